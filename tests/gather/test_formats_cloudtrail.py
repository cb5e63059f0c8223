"""CloudTrail documents: one row per record, the affected resource as the service."""

from __future__ import annotations

import json

import orjson

from tasks.contracts import LogFormat
from tasks.gather.formats import TRUNCATED
from tests.gather.formats_support import AWS, parse, ts


def test_cloudtrail_documentation_examples_parse_one_row_per_record():
    data = (AWS / "cloudtrail-examples.json").read_bytes()
    rows, tally = parse(LogFormat.CLOUDTRAIL, data)
    assert tally.total == 0
    assert [r["line"] for r in rows] == list(range(1, 9))  # record index, 1-based
    names = [json.loads(r["attrs"]).get("eventName") for r in rows]
    assert names[:6] == [
        "StartInstances",
        "StopInstances",
        "CreateKeyPair",
        "CreateUser",
        "AddUserToGroup",
        "UpdateTrail",
    ]
    assert rows[0]["ts"] == ts("2014-03-06T21:22:54Z")
    assert rows[0]["service"] == "ec2"
    assert rows[0]["message"] == "ec2:StartInstances by Alice"
    assert rows[3]["message"] == "iam:CreateUser user=Bob by Alice"
    trail = rows[5]
    assert trail["level"] == "error"
    assert trail["message"].endswith("failed: TrailNotFoundException")
    attrs = json.loads(trail["attrs"])
    assert attrs["errorCode"] == "TrailNotFoundException"
    assert attrs["actor"] == "Alice"
    assert attrs["eventID"] == "b7d4398e-b2f0-4faa-9c76-e2d316a8d67f"
    assert attrs["requestParameters"] == {"name": "myTrail2"}
    insight = rows[6]  # Insights events carry their source inside insightDetails
    assert insight["service"] == "ssm"
    assert "ApiCallRateInsight" in insight["message"]
    assert {r["level"] for r in rows[:5]} == {"info"}


def _trail(*events: dict) -> bytes:
    return orjson.dumps({"Records": list(events)})


def _event(source: str, name: str, params: dict, **extra) -> dict:
    return {
        "eventTime": "2026-01-05T10:00:00Z",
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/Deployer/alice",
        },
        "requestParameters": params,
        **extra,
    }


def test_cloudtrail_service_is_the_affected_resource():
    data = _trail(
        _event(
            "ecs",
            "UpdateService",
            {
                "service": "arn:aws:ecs:eu-west-1:123456789012:service/prod/checkout",
                "cluster": "prod",
                "taskDefinition": "checkout:42",
            },
        ),
        _event(
            "lambda",
            "UpdateFunctionConfiguration20150331v2",
            {"functionName": "arn:aws:lambda:eu-west-1:123456789012:function:resize"},
        ),
        _event("rds", "ModifyDBInstance", {"dBInstanceIdentifier": "orders-db"}),
        _event("ssm", "PutParameter", {"name": "/prod/checkout/timeout"}),
        _event("ec2", "AuthorizeSecurityGroupIngress", {"groupId": "sg-1"}),
    )
    rows, tally = parse(LogFormat.CLOUDTRAIL, data)
    assert tally.total == 0
    assert [r["service"] for r in rows] == [
        "checkout",
        "resize",
        "orders-db",
        "/prod/checkout/timeout",
        "ec2",
    ]
    assert rows[0]["message"] == (
        "ecs:UpdateService service=checkout cluster=prod taskDefinition=checkout:42"
        " by Deployer/alice"
    )
    assert json.loads(rows[0]["attrs"])["actorArn"].endswith("assumed-role/Deployer/alice")


def test_cloudtrail_truncates_huge_request_parameters():
    big = {"policyDocument": "x" * 10_000}
    rows, _ = parse(LogFormat.CLOUDTRAIL, _trail(_event("iam", "PutRolePolicy", big)))
    params = json.loads(rows[0]["attrs"])["requestParameters"]
    assert isinstance(params, str)
    assert len(params) < 2100


def test_cloudtrail_not_a_records_document_is_one_clear_rejection():
    for data, reason in [
        (b'[{"Records": [ {"eventTime": ', "invalid_json"),
        (b'{"foo": 1}', "not_cloudtrail"),
        (b"[1, 2]", "not_cloudtrail"),
    ]:
        rows, tally = parse(LogFormat.CLOUDTRAIL, data)
        assert rows == []
        assert tally.counts == {reason: 1}
        assert tally.examples[0].line == 1


def test_cloudtrail_record_without_time_is_rejected_at_its_index():
    event = _event("ecs", "UpdateService", {"service": "checkout"})
    undated = {k: v for k, v in event.items() if k != "eventTime"}
    rows, tally = parse(LogFormat.CLOUDTRAIL, _trail(event, undated, "junk"))
    assert [r["line"] for r in rows] == [1]
    assert tally.counts == {"no_timestamp": 1, "not_an_object": 1}
    assert {(e.line, e.reason) for e in tally.examples} == {
        (2, "no_timestamp"),
        (3, "not_an_object"),
    }


def test_cloudtrail_cut_short_keeps_its_complete_records_and_says_so():
    events = [_event("ecs", "UpdateService", {"service": f"svc{i}"}) for i in range(3)]
    whole = _trail(*events)
    cut = whole[: whole.index(b"svc2") + 2]  # inside the third record
    rows, tally = parse(LogFormat.CLOUDTRAIL, cut)
    assert [r["service"] for r in rows] == ["svc0", "svc1"]
    assert [r["line"] for r in rows] == [1, 2]
    assert tally.counts == {TRUNCATED: 1}
    assert tally.examples[0].line == 3  # the first record that is missing
    assert "ends after 2 complete records" in tally.examples[0].excerpt


def test_cloudtrail_broken_in_the_middle_keeps_the_records_before_the_break():
    events = [_event("ecs", "UpdateService", {"service": f"svc{i}"}) for i in range(3)]
    broken = _trail(*events).replace(b'"svc1"', b'"svc1"}}}', 1)
    rows, tally = parse(LogFormat.CLOUDTRAIL, broken)
    assert [r["service"] for r in rows] == ["svc0", "svc1"]
    assert tally.counts == {"invalid_json": 1}
