"""Change events from CloudTrail and from the applications' own markers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tasks.baseline import build_findings
from tasks.baseline.changes import classify_event, detect_changes, match_service
from tasks.baseline.frame import window_view
from tasks.contracts import TimeWindow, WindowSet
from tasks.settings import Settings
from tests import frames

T0 = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
INCIDENT = TimeWindow(start=T0, end=T0 + timedelta(minutes=30))
BEFORE = INCIDENT.shifted(-INCIDENT.duration)
WINDOWS = WindowSet(incident=INCIDENT, baselines=[BEFORE], baseline_kind="default")
ACCOUNT = "123456789012"
SERVICES = ("checkout", "payments", "payments-webhook", "inventory", "orders")


class Logs(frames.Logs):
    """tests.frames.Logs with steady traffic over both windows, and CloudTrail records."""

    def traffic(self, service: str, rate: float = 10, **fields) -> None:
        """Steady lines from the start of the baseline to the end of the incident."""
        for minute in range(int((INCIDENT.end - BEFORE.start).total_seconds() // 60)):
            for i in range(int(rate)):
                at = BEFORE.start + timedelta(minutes=minute, seconds=i * 60 / rate)
                self.add(at, service, "GET /health 200", **fields)

    def trail(
        self, at: datetime, source: str, name: str, params: dict | None = None, **more
    ) -> None:
        """A CloudTrail record as the cloudtrail parser leaves it: the event in attrs."""
        attrs = {
            "eventSource": source,
            "eventName": name,
            "eventType": "AwsApiCall",
            "actor": more.pop("actor", "DeployRole/ci"),
            "actorArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/DeployRole/ci",
            "readOnly": more.pop("readOnly", False),
            "requestParameters": params,
            "awsRegion": "us-east-1",
            **more,
        }
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.rows.append(
            {
                "ts": at,
                "service": source.split(".")[0],
                "instance": None,
                "level": "info",
                "message": f"{source.split('.')[0]}:{name}",
                "attrs": json.dumps(attrs),
                "line": len(self.rows) + 1,
                "source": "cloudtrail",
                "object_key": f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/24/trail.json.gz",
            }
        )


def with_services() -> Logs:
    logs = Logs()
    for service in SERVICES:
        logs.traffic(service, rate=2)
    return logs


def changes_of(logs: Logs):
    return detect_changes(window_view(logs.frame(), WINDOWS))


AT = T0 - timedelta(minutes=3)

CLOUDTRAIL_CASES = [
    # (eventSource, eventName, requestParameters, kind, service)
    (
        "ecs.amazonaws.com",
        "UpdateService",
        {
            "cluster": "prod",
            "service": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/payments",
            "taskDefinition": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/payments:43",
        },
        "deploy",
        "payments",
    ),
    (
        "ecs.amazonaws.com",
        "UpdateService",
        {"cluster": "prod", "service": "checkout", "desiredCount": 12},
        "scaling",
        "checkout",
    ),
    (
        "ecs.amazonaws.com",
        "RegisterTaskDefinition",
        {
            "family": "inventory",
            "containerDefinitions": [
                {
                    "name": "inventory",
                    "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/inventory:2.1.0",
                }
            ],
        },
        "deploy",
        "inventory",
    ),
    (
        "lambda.amazonaws.com",
        "UpdateFunctionConfiguration20150331v2",
        {
            "functionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:payments-webhook",
            "timeout": 3,
        },
        "config",
        "payments-webhook",
    ),
    (
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        {"functionName": "payments-webhook", "publish": True},
        "deploy",
        "payments-webhook",
    ),
    (
        "ssm.amazonaws.com",
        "PutParameter",
        {"name": "/prod/checkout/payment_timeout_ms", "type": "String", "overwrite": True},
        "config",
        "checkout",
    ),
    (
        "appconfig.amazonaws.com",
        "StartDeployment",
        {
            "applicationId": "abc1234",
            "environmentId": "prod1",
            "configurationProfileId": "orders-flags",
            "deploymentStrategyId": "AppConfig.AllAtOnce",
        },
        "config",
        "orders",
    ),
    (
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        {
            "groupId": "sg-0a1b2c3d",
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432}]},
        },
        "network",
        None,
    ),
    ("ec2.amazonaws.com", "RevokeSecurityGroupEgress", {"groupId": "sg-0a1b2c3d"}, "network", None),
    (
        "iam.amazonaws.com",
        "AttachRolePolicy",
        {
            "roleName": "payments-task-role",
            "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        },
        "iam",
        "payments",
    ),
    (
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        {"roleName": "orders-task-role"},
        "iam",
        "orders",
    ),
    (
        "rds.amazonaws.com",
        "ModifyDBInstance",
        {"dBInstanceIdentifier": "orders-db", "maxAllocatedStorage": 200, "applyImmediately": True},
        "database",
        "orders",
    ),
    (
        "rds.amazonaws.com",
        "RebootDBInstance",
        {"dBInstanceIdentifier": "orders-db"},
        "database",
        "orders",
    ),
    (
        "autoscaling.amazonaws.com",
        "UpdateAutoScalingGroup",
        {"autoScalingGroupName": "eks-checkout-nodes", "desiredCapacity": 2},
        "scaling",
        "checkout",
    ),
    (
        "elasticloadbalancing.amazonaws.com",
        "ModifyTargetGroupAttributes",
        {
            "targetGroupArn": f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/inventory/6d0ecf831eec9f09",
            "attributes": [{"key": "deregistration_delay.timeout_seconds", "value": "5"}],
        },
        "network",
        "inventory",
    ),
    # A CI push of a new image, often the only CloudTrail trace of a Kubernetes rollout.
    ("ecr.amazonaws.com", "PutImage", {"repositoryName": "checkout"}, "deploy", "checkout"),
]


@pytest.mark.parametrize(
    ("source", "name", "params", "kind", "service"),
    CLOUDTRAIL_CASES,
    ids=[f"{c[1]}-{c[3]}" for c in CLOUDTRAIL_CASES],
)
def test_cloudtrail_write_events_map_to_kind_and_service(
    source, name, params, kind, service
) -> None:
    logs = with_services()
    logs.trail(AT, source, name, params)
    [event] = changes_of(logs)
    assert (event.kind, event.service, event.source) == (kind, service, "cloudtrail")
    assert event.at == AT
    assert event.actor == "DeployRole/ci"
    assert name in event.summary
    assert len(event.evidence_ids) == 1


def test_read_only_and_failed_calls_are_not_changes() -> None:
    logs = with_services()
    logs.trail(
        AT, "ecs.amazonaws.com", "DescribeServices", {"services": ["payments"]}, readOnly=True
    )
    logs.trail(
        AT, "ssm.amazonaws.com", "GetParameter", {"name": "/prod/payments/db"}, readOnly=None
    )
    logs.trail(
        AT,
        "ecs.amazonaws.com",
        "UpdateService",
        {"service": "payments"},
        errorCode="AccessDeniedException",
        errorMessage="not authorized",
    )
    logs.trail(AT, "sts.amazonaws.com", "AssumeRole", {"roleArn": "arn:aws:iam::1:role/x"})
    logs.trail(AT, "ssm.amazonaws.com", "UpdateInstanceInformation", {"agentVersion": "3.2"})
    assert changes_of(logs) == []


def test_parameter_values_never_reach_the_summary() -> None:
    logs = with_services()
    logs.trail(
        AT,
        "ssm.amazonaws.com",
        "PutParameter",
        {"name": "/prod/payments/db_password", "value": "hunter2", "type": "SecureString"},
    )
    [event] = changes_of(logs)
    assert "hunter2" not in event.summary and event.service == "payments"


def test_events_outside_the_context_are_ignored() -> None:
    logs = with_services()
    logs.trail(
        T0 - timedelta(hours=5), "ecs.amazonaws.com", "UpdateService", {"service": "payments"}
    )
    logs.trail(
        INCIDENT.end + timedelta(minutes=1),
        "ecs.amazonaws.com",
        "UpdateService",
        {"service": "payments"},
    )
    assert changes_of(logs) == []


def test_match_service_prefers_the_longest_name_and_needs_whole_words() -> None:
    assert (
        match_service("arn:aws:lambda:us-east-1:1:function:payments-webhook", SERVICES)
        == "payments-webhook"
    )
    assert match_service("/prod/payments/pool_size", SERVICES) == "payments"
    assert match_service("paymentsvc", SERVICES) is None
    assert match_service("sg-0a1b2c3d", SERVICES) is None


def test_classify_event_knows_the_documented_write_calls() -> None:
    assert classify_event("ecs.amazonaws.com", "CreateService", {}) == "deploy"
    assert classify_event("iam.amazonaws.com", "PutRolePolicy", {}) == "iam"
    assert classify_event("iam.amazonaws.com", "DetachRolePolicy", {}) == "iam"
    assert (
        classify_event("application-autoscaling.amazonaws.com", "PutScalingPolicy", {}) == "scaling"
    )
    assert classify_event("ec2.amazonaws.com", "CreateKeyPair", {}) is None


# --------------------------------------------------------------------------------------------
# Application markers
# --------------------------------------------------------------------------------------------


def test_a_new_container_image_is_a_version_change() -> None:
    logs = Logs()
    image = "registry.local/payments:{}"
    switch = T0 - timedelta(minutes=2)
    for minute in range(60):
        at = BEFORE.start + timedelta(minutes=minute)
        # A pod's image is fixed: the new version comes with new pods.
        tag, pod = ("1.4.2", "payments-6d4f-a") if at < switch else ("1.5.0", "payments-7e5a-b")
        attrs = json.dumps({"container": "payments", "container_image": image.format(tag)})
        logs.add(at, "payments", "GET / 200", attrs=attrs, instance=pod)
    [event] = [c for c in changes_of(logs) if c.kind == "version"]
    assert event.service == "payments" and event.source == "app"
    assert event.at == switch
    assert "payments:1.5.0" in event.summary and "payments:1.4.2" in event.summary


def test_start_markers_on_several_pods_are_one_deploy_event() -> None:
    logs = with_services()
    for i, pod in enumerate(("payments-7f9c-a", "payments-7f9c-b", "payments-7f9c-c")):
        logs.add(
            AT + timedelta(seconds=20 * i),
            "payments",
            "Starting payments version 2.3.1",
            instance=pod,
        )
    [event] = [c for c in changes_of(logs) if c.kind == "deploy"]
    assert event.service == "payments" and event.at == AT
    assert "version 2.3.1" in event.summary and "3 instance(s)" in event.summary
    assert len(event.evidence_ids) == 3


def test_pods_starting_the_version_already_running_are_a_restart_not_a_deploy() -> None:
    logs = Logs()
    image = json.dumps({"container_image": "registry.local/auth:2.9.0"})
    for minute in range(60):
        at = BEFORE.start + timedelta(minutes=minute)
        logs.add(at, "auth", "GET / 200", instance="auth-a", attrs=image)
        if at >= T0:  # a scale-out: one more pod, same image
            logs.add(at + timedelta(seconds=1), "auth", "GET / 200", instance="auth-b", attrs=image)
    logs.add(T0, "auth", "Starting auth version 2.9.0", instance="auth-b", attrs=image)
    [event] = [c for c in changes_of(logs) if c.summary.startswith("auth started")]
    assert event.kind == "restart" and "already running" in event.summary


def test_shutdown_markers_are_a_restart() -> None:
    logs = with_services()
    logs.add(AT, "orders", "Received SIGTERM, shutting down gracefully", instance="orders-1")
    [event] = [c for c in changes_of(logs) if c.kind == "restart" and c.source == "app"]
    assert event.service == "orders" and event.at == AT


def test_new_instances_replacing_old_ones_are_a_restart() -> None:
    logs = Logs()
    replaced = T0 - timedelta(minutes=10)
    for minute in range(60):
        at = BEFORE.start + timedelta(minutes=minute)
        pods = (
            ("checkout-old-1", "checkout-old-2")
            if at < replaced
            else ("checkout-new-1", "checkout-new-2")
        )
        for second, pod in enumerate(pods):
            logs.add(at + timedelta(seconds=second), "checkout", "GET / 200", instance=pod)
    [event] = [c for c in changes_of(logs) if c.service == "checkout"]
    assert event.kind == "restart" and event.at == replaced
    assert "checkout-new-1" in event.summary and "2 stopped logging" in event.summary


def test_steady_services_have_no_app_changes() -> None:
    assert changes_of(with_services()) == []


def test_markers_are_found_through_pattern_templates_in_the_findings() -> None:
    logs = with_services()
    for i, pod in enumerate(("orders-1", "orders-2")):
        logs.add(
            AT + timedelta(seconds=i), "orders", "Received SIGTERM, shutting down", instance=pod
        )
        logs.add(
            AT + timedelta(minutes=1, seconds=i),
            "orders",
            "Starting orders version 7.0.1",
            instance=pod,
        )
    changes = build_findings(logs.frame(), WINDOWS, "INC-1", Settings()).changes
    markers = {(c.kind, c.service) for c in changes if c.summary.startswith("orders ")}
    assert markers == {("restart", "orders"), ("deploy", "orders")}
    deploy = next(c for c in changes if c.kind == "deploy")
    assert "version 7.0.1" in deploy.summary and "2 instance(s)" in deploy.summary


def test_routine_churn_without_a_service_collapses_into_one_event() -> None:
    from datetime import UTC, datetime, timedelta

    from tasks.baseline.changes import collapse_repeats
    from tasks.contracts import ChangeEvent

    t0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    churn = [
        ChangeEvent(
            at=t0 + timedelta(minutes=7 * i),
            kind="scaling",
            actor="karpenter",
            summary="EC2 TerminateInstances",
            source="cloudtrail",
            evidence_ids=[f"oabc:{i}"],
        )
        for i in range(6)
    ]
    deploy = ChangeEvent(
        at=t0, kind="deploy", service="checkout", summary="ECR PutImage", source="cloudtrail"
    )
    out = collapse_repeats([*churn, deploy])
    assert len(out) == 2
    collapsed = next(e for e in out if e.service is None)
    assert collapsed.summary == "EC2 TerminateInstances ×6, 12:00–12:35"
    assert collapsed.evidence_ids == ["oabc:0", "oabc:1", "oabc:2"]
    assert deploy in out


def test_first_and_last_rows_per_pair_agree_with_and_without_the_dense_arrays() -> None:
    from tasks.baseline.changes import DENSE_PAIRS, _first_and_last

    rng = np.random.default_rng(4)
    rows = np.sort(rng.choice(10**6, size=5000, replace=False)).astype(np.int32)
    key = rng.integers(0, 300, size=rows.size).astype(np.int32)
    dense = _first_and_last(key, rows, 300)
    # The same keys spread over more pairs than the dense arrays allow take the sorting path.
    sparse = _first_and_last(key.astype(np.int64) * DENSE_PAIRS, rows, 300 * DENSE_PAIRS)
    assert np.array_equal(dense[0] * DENSE_PAIRS, sparse[0])
    assert np.array_equal(dense[1], sparse[1]) and np.array_equal(dense[2], sparse[2])
    for k, first, last in zip(*dense, strict=True):
        mine = rows[key == k]
        assert (first, last) == (mine.min(), mine.max())
