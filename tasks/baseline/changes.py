"""Change events: what was changed in the system before and during the incident.

Two kinds of evidence:

- CloudTrail write events (deploys, configuration, IAM, network, database, scaling), each
  mapped to a kind and, where its request parameters name one, to the service it touched.
  Read-only calls and calls that failed (errorCode) changed nothing and are left out.
- The applications' own markers: a service's container image changing, new instances (pods)
  appearing, and log lines such as "Starting payments version 1.4.2", "Shutting down" or
  "SIGTERM", grouped so that a rolling restart of twenty pods is one event.

Only the context before the incident (`windows.CONTEXT_BEFORE`) and the incident window itself
are searched.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.baseline.frame import (
    CONTEXT_BEFORE,
    UNKNOWN_SERVICE,
    WindowedFrame,
    from_us,
    to_us,
    where,
)
from tasks.contracts import ChangeEvent, ChangeKind

CLUSTER_GAP_US = 5 * 60_000_000  # markers further apart than this are separate events
NEW_INSTANCE_GRACE_US = 5 * 60_000_000  # an instance first seen this long after its service is new
MIN_LINES_PER_MINUTE_FOR_INSTANCES = 1.0  # quieter services make every pod look new
EVIDENCE = 3

# (eventSource prefix, eventName pattern, kind); the first match wins.
_CLOUDTRAIL_RULES: list[tuple[str, re.Pattern[str], ChangeKind]] = [
    (src, re.compile(pattern), kind)
    for src, pattern, kind in [
        (
            "ecs",
            r"^(UpdateService|CreateService|DeleteService|RegisterTaskDefinition|"
            r"DeregisterTaskDefinition|CreateTaskSet|UpdateTaskSet|UpdateServicePrimaryTaskSet)",
            "deploy",
        ),
        ("ecs", r"^StopTask", "restart"),
        # A CI push of a new image is often the only trace in CloudTrail of a Kubernetes rollout.
        ("ecr", r"^PutImage$", "deploy"),
        (
            "lambda",
            r"^(UpdateFunctionCode|PublishVersion|UpdateAlias|CreateFunction|DeleteFunction)",
            "deploy",
        ),
        ("lambda", r"^(UpdateFunctionConfiguration|UpdateEventSourceMapping)", "config"),
        (
            "lambda",
            r"^(PutFunctionConcurrency|DeleteFunctionConcurrency|"
            r"PutProvisionedConcurrencyConfig)",
            "scaling",
        ),
        ("ssm", r"^(PutParameter|DeleteParameters?|LabelParameterVersion)$", "config"),
        (
            "appconfig",
            r"^(StartDeployment|StopDeployment|CreateHostedConfigurationVersion|"
            r"UpdateConfigurationProfile|UpdateEnvironment)",
            "config",
        ),
        ("secretsmanager", r"^(PutSecretValue|UpdateSecret|RotateSecret)", "config"),
        (
            "ec2",
            r"^((Authorize|Revoke)SecurityGroup(Ingress|Egress)|ModifySecurityGroupRules|"
            r"(Create|Replace|Delete)Route$|(Create|Replace|Delete)NetworkAclEntry|"
            r"ReplaceNetworkAclAssociation|ModifyNetworkInterfaceAttribute|"
            r"(Associate|Disassociate)Address|ModifyVpcEndpoint|(Create|Delete)NatGateway)",
            "network",
        ),
        ("ec2", r"^(RebootInstances|StopInstances)", "restart"),
        # Node churn (Karpenter, spot): the pods on those nodes move, which can matter.
        ("ec2", r"^TerminateInstances", "scaling"),
        (
            "ec2",
            r"^(ModifyInstanceAttribute|ModifyLaunchTemplate|CreateLaunchTemplateVersion)",
            "config",
        ),
        ("iam", r"^(Put|Attach|Detach|Update|Create|Delete|Add|Remove|Set)", "iam"),
        ("kms", r"^(DisableKey|ScheduleKeyDeletion|PutKeyPolicy|RevokeGrant)", "iam"),
        ("s3", r"^(PutBucketPolicy|DeleteBucketPolicy|PutBucketAcl)", "iam"),
        ("rds", r"^(Modify|Reboot|Failover|Delete|Promote|Stop|Start)", "database"),
        ("elasticache", r"^(Modify|Reboot|Failover|Delete|TestFailover)", "database"),
        ("dynamodb", r"^(UpdateTable|UpdateTimeToLive|DeleteTable)", "database"),
        (
            "autoscaling",
            r"^(UpdateAutoScalingGroup|SetDesiredCapacity|PutScalingPolicy|"
            r"PutScheduledUpdateAction|SuspendProcesses|ResumeProcesses|"
            r"TerminateInstanceInAutoScalingGroup|StartInstanceRefresh)",
            "scaling",
        ),
        (
            "application-autoscaling",
            r"^(RegisterScalableTarget|PutScalingPolicy|"
            r"DeleteScalingPolicy|PutScheduledAction)",
            "scaling",
        ),
        (
            "elasticloadbalancing",
            r"^(Modify|RegisterTargets|DeregisterTargets|CreateRule|"
            r"DeleteRule|SetRulePriorities|CreateListener|DeleteListener|"
            r"SetSecurityGroups|SetSubnets)",
            "network",
        ),
        ("route53", r"^ChangeResourceRecordSets", "network"),
        ("wafv2", r"^(Update|Associate|Disassociate)", "network"),
        ("cloudfront", r"^UpdateDistribution", "network"),
        ("eks", r"^(UpdateClusterVersion|UpdateNodegroupVersion|UpdateAddon)", "deploy"),
        ("eks", r"^UpdateNodegroupConfig", "scaling"),
        ("eks", r"^UpdateClusterConfig", "config"),
        ("cloudformation", r"^(CreateStack|UpdateStack|DeleteStack|ExecuteChangeSet)", "deploy"),
        ("codedeploy", r"^CreateDeployment", "deploy"),
        ("apigateway", r"^(CreateDeployment|UpdateStage)", "deploy"),
    ]
]

_READ_ONLY_NAME = re.compile(
    r"^(Describe|Get|List|Head|Lookup|Search|BatchGet|Check|Validate|Preview|Estimate|Simulate)"
)

# Request parameters that name the resource a call touches, most telling first. Values such as
# a parameter's `value` are never read: they may be secrets.
_TARGET_KEYS = (
    "service",
    "repositoryName",
    "serviceName",
    "functionName",
    "name",
    "names",
    "family",
    "taskDefinition",
    "autoScalingGroupName",
    "targetGroupArn",
    "loadBalancerArn",
    "loadBalancerName",
    "dBInstanceIdentifier",
    "dBClusterIdentifier",
    "cacheClusterId",
    "replicationGroupId",
    "tableName",
    "secretId",
    "roleName",
    "policyName",
    "groupName",
    "groupId",
    "applicationId",
    "environmentId",
    "configurationProfileId",
    "stackName",
    "nodegroupName",
    "resourceId",
    "hostedZoneId",
)

_WORD = re.compile(r"[a-z0-9]+")

# (kind, loose regex every match also matches, exact regex): "Starting payments version
# 1.4.2", "Received SIGTERM". The loose one uses only words that pattern mining keeps.
_MARKERS: list[tuple[ChangeKind, str, str]] = [
    ("deploy", r"(?i)start", r"(?i)\bstart(ing|ed)\b.*(\bversion\b|\bv\d+\.\d+)"),
    (
        "restart",
        r"(?i)(shut|sig|signal)",
        r"(?i)(shutting down|\bsig(term|kill)\b|received signal|graceful(ly)? shut)",
    ),
]

#: Each view row's pattern code (-1 when not mined) and the template of each code.
RowPatterns = tuple[np.ndarray, list[str]]
_VERSION = re.compile(r"(?i)\b(?:version[\s:=]*|v)(\d[\w.+-]*)")
_IMAGE = r'"container_image"\s*:\s*"(?P<image>[^"]*)"'


# --------------------------------------------------------------------------------------------
# Matching resource names to services
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def match_service(text: str, services: Iterable[str]) -> str | None:
    """The known service named in `text` (an ARN, a path, a name): its words appear in order.

    "arn:aws:ecs:...:service/prod/payments-api" names "payments-api" rather than "payments"
    when both are known: the longest match wins.
    """
    words = _words(text)
    best: tuple[int, int, str] | None = None
    for service in services:
        target = _words(service)
        if not target or len(target) > len(words):
            continue
        width = len(target)
        if any(words[i : i + width] == target for i in range(len(words) - width + 1)):
            key = (-width, -len(service), service)
            if best is None or key < best:
                best = key
    return best[2] if best else None


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string inside a JSON value, skipping values that may be secret."""
    if depth > 6:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.lower() not in ("value", "secretstring", "secretbinary", "password"):
                yield from _strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value[:50]:
            yield from _strings(item, depth + 1)


def _targets(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, value) pairs of the parameters that name the touched resource."""
    out = []
    for key in _TARGET_KEYS:
        value = params.get(key)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str)), None)
        if isinstance(value, str) and value:
            out.append((key, value))
    for container in params.get("containerDefinitions") or []:
        if isinstance(container, dict):
            for key in ("name", "image"):
                if isinstance(container.get(key), str):
                    out.append((f"container {key}", container[key]))
    return out


def _touched_service(params: dict[str, Any], services: list[str]) -> str | None:
    for _, value in _targets(params):
        found = match_service(value, services)
        if found:
            return found
    for value in _strings(params):
        found = match_service(value, services)
        if found:
            return found
    return None


# --------------------------------------------------------------------------------------------
# CloudTrail
# --------------------------------------------------------------------------------------------


def classify_event(event_source: str, event_name: str, params: dict[str, Any]) -> ChangeKind | None:
    """The kind of change a CloudTrail write event makes, or None for calls we do not track."""
    prefix = event_source.split(".", 1)[0]
    for source, pattern, kind in _CLOUDTRAIL_RULES:
        if prefix == source and pattern.search(event_name):
            # ECS UpdateService without a new task definition only changes the task count.
            if (
                kind == "deploy"
                and event_name == "UpdateService"
                and "desiredCount" in params
                and "taskDefinition" not in params
                and not params.get("forceNewDeployment")
            ):
                return "scaling"
            return kind
    return None


def _is_read_only(record: dict[str, Any], event_name: str) -> bool:
    flag = record.get("readOnly")
    if isinstance(flag, str):
        flag = flag.strip().lower() == "true"
    if flag is True:
        return True
    return bool(_READ_ONLY_NAME.match(event_name))


def _actor(record: dict[str, Any]) -> str | None:
    actor = record.get("actor")
    if isinstance(actor, str) and actor:
        return actor
    identity = record.get("userIdentity")
    if isinstance(identity, dict):
        issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
        for value in (
            identity.get("arn"),
            identity.get("userName"),
            issuer.get("userName"),
            identity.get("invokedBy"),
        ):
            if isinstance(value, str) and value:
                return value
    return None


def _params(record: dict[str, Any]) -> dict[str, Any]:
    params = record.get("requestParameters")
    if isinstance(params, str):
        try:
            params = orjson.loads(params)
        except orjson.JSONDecodeError:
            # The parser cuts huge parameters to a prefix: keep the text for name matching only.
            return {"truncated": params}
    return params if isinstance(params, dict) else {}


def _short(value: str) -> str:
    """The last part of an ARN or path, which is what people call the resource."""
    tail = re.split(r"[/:]", value.rstrip("/:"))
    tail = [t for t in tail if t]
    if value.startswith("arn:") and len(tail) >= 2 and tail[-1].isdigit():
        return f"{tail[-2]}:{tail[-1]}"
    return (
        value
        if len(value) <= 60 and not value.startswith("arn:")
        else (tail[-1] if tail else value)
    )


def describe_event(event_source: str, event_name: str, params: dict[str, Any]) -> str:
    prefix = event_source.split(".", 1)[0]
    details = [f"{key} {_short(value)}" for key, value in _targets(params)[:2]]
    if "desiredCount" in params:
        details.append(f"desiredCount {params['desiredCount']}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{prefix.upper() if len(prefix) <= 4 else prefix} {event_name}{suffix}"


def cloudtrail_changes(
    view: WindowedFrame, rows: np.ndarray, services: list[str]
) -> list[ChangeEvent]:
    """Write events from CloudTrail records among `rows`."""
    attrs = view.strings("attrs", rows)
    evidence = view.evidence(rows)
    events = []
    for row, text, evidence_id in zip(rows.tolist(), attrs, evidence, strict=True):
        try:
            record = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        source = str(record.get("eventSource") or "")
        name = str(record.get("eventName") or "")
        if not name or record.get("errorCode") or _is_read_only(record, name):
            continue
        params = _params(record)
        kind = classify_event(source, name, params)
        if kind is None:
            continue
        events.append(
            ChangeEvent(
                at=view.time(row),
                kind=kind,
                service=_touched_service(params, services),
                actor=_actor(record),
                summary=describe_event(source, name, params),
                source="cloudtrail",
                evidence_ids=[evidence_id],
            )
        )
    return events


# --------------------------------------------------------------------------------------------
# Application markers
# --------------------------------------------------------------------------------------------


def _clusters(times: np.ndarray) -> list[np.ndarray]:
    """Split sorted positions into runs with gaps no longer than CLUSTER_GAP_US."""
    if times.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(times) > CLUSTER_GAP_US) + 1
    return np.split(np.arange(times.size), cuts)


#: Up to this many (service, instance) pairs, first and last rows are found in arrays indexed
#: by pair, without sorting the rows.
DENSE_PAIRS = 1 << 22


def _first_and_last(
    key: np.ndarray, rows: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each key present (ascending), with its first and last row; `rows` ascending, keys < size."""
    if size <= DENSE_PAIRS:
        first = np.full(size, np.iinfo(rows.dtype).max, dtype=rows.dtype)
        last = np.full(size, -1, dtype=rows.dtype)
        np.minimum.at(first, key, rows)
        np.maximum.at(last, key, rows)
        present = np.flatnonzero(last >= 0)
        return present, first[present], last[present]
    present, at_first = np.unique(key, return_index=True)
    _, from_end = np.unique(key[::-1], return_index=True)
    return present, rows[at_first], rows[len(key) - 1 - from_end]


def _instance_spans(view: WindowedFrame, rows: np.ndarray) -> pd.DataFrame:
    """First and last row of every (service, instance) pair among time-ordered `rows`."""
    instance, instance_names = view.value_codes("instance", rows)
    names = np.asarray(instance_names, dtype=object)
    n_instances = len(instance_names)
    size = len(view.service_names) * n_instances
    pair = view.service[rows].astype(np.int32 if size < 2**31 else np.int64)
    pair *= n_instances
    pair += instance
    del instance
    present, first, last = _first_and_last(pair, rows, size)
    del pair
    order = np.argsort(first, kind="stable")  # pairs in the order they first appear
    present, first, last = present[order], first[order], last[order]
    spans = pd.DataFrame(
        {
            "service": (present // n_instances).astype(view.service.dtype),
            "instance": present % n_instances,
            "first": first,
            "last": last,
        }
    )
    spans["name"] = names[spans["instance"].to_numpy()]
    spans["first_us"] = view.ts[spans["first"].to_numpy()]
    spans["last_us"] = view.ts[spans["last"].to_numpy()]
    return spans[spans["name"] != ""]


def _with_images(view: WindowedFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """Each instance's container image (None when its lines carry none).

    A pod's image never changes, so the image is read from each instance's first line only.
    """
    attrs = view.column("attrs", spans["first"].to_numpy())
    images = pc.struct_field(pc.extract_regex(pc.fill_null(attrs, ""), _IMAGE), [0])
    images = pc.if_else(pc.equal(images, ""), None, images)
    return spans.assign(image=images.to_numpy(zero_copy_only=False))


def image_changes(view: WindowedFrame, spans: pd.DataFrame) -> list[ChangeEvent]:
    """A service starting to run a container image it was not running before."""
    spans = spans[spans["image"].notna()]
    first = spans.sort_values(["first_us", "first"]).drop_duplicates(["service", "image"])
    events = []
    for service, seen in first.groupby("service", sort=True):
        name = view.service_names[int(service)]
        rows = seen["first"].to_numpy()
        images = seen["image"].tolist()
        for (prev_row, prev_image), (row, image) in itertools.pairwise(
            zip(rows, images, strict=True)
        ):
            # Two images seen from the start are two deployments side by side, not a change.
            if view.ts[row] - view.ts[prev_row] < 60_000_000:
                continue
            events.append(
                ChangeEvent(
                    at=view.time(int(row)),
                    kind="version",
                    service=name,
                    summary=f"{name} started running image {image} (before: {prev_image})",
                    source="app",
                    evidence_ids=view.evidence([row]),
                )
            )
    return events


def instance_changes(
    view: WindowedFrame, rows: np.ndarray, spans: pd.DataFrame
) -> list[ChangeEvent]:
    """Instances (pods, hosts) that start logging well after their service did.

    New instances whose predecessors stopped logging are a restart (or rollout); new ones
    alongside all the old ones are a scale-out.
    """
    minutes = max(float(view.ts[rows[-1]] - view.ts[rows[0]]) / 60e6, 1.0)
    volume = np.bincount(view.service[rows], minlength=len(view.service_names)) / minutes
    end_us = to_us(view.windows.incident.end)
    events = []
    for service, members in spans.groupby("service", sort=True):
        name = view.service_names[int(service)]
        if name == UNKNOWN_SERVICE or volume[int(service)] < MIN_LINES_PER_MINUTE_FOR_INSTANCES:
            continue
        is_new = members["first_us"] - members["first_us"].min() >= NEW_INSTANCE_GRACE_US
        new = members[is_new].sort_values(["first_us", "name"])
        old = members[~is_new]
        times = new["first_us"].to_numpy()
        for cluster in _clusters(times):
            group = new.iloc[cluster]
            start = int(times[cluster[0]])
            stopped = old[
                (old["last_us"] < end_us - 2 * 60_000_000)
                & (old["last_us"] >= start - CLUSTER_GAP_US)
            ]
            listed = ", ".join(group["name"].head(5)) + (" ..." if len(group) > 5 else "")
            what = f"{len(stopped)} stopped logging" if len(stopped) else "none stopped"
            events.append(
                ChangeEvent(
                    at=from_us(start),
                    kind="restart" if len(stopped) else "scaling",
                    service=name,
                    summary=f"{len(group)} new instance(s) of {name} started logging ({listed}); "
                    f"of the earlier ones, {what}",
                    source="app",
                    evidence_ids=view.evidence(group["first"].to_numpy()[:EVIDENCE]),
                )
            )
    return events


def _marker_rows(
    view: WindowedFrame, rows: np.ndarray, loose: str, exact: str, patterns: RowPatterns | None
) -> np.ndarray:
    """Rows whose message matches `exact`.

    `loose` (implied by `exact`, and made of words the pattern miner keeps) picks candidates
    first: from the templates when rows have patterns, so that the exact regex reads few lines.
    """
    maybe = rows
    if patterns is not None:
        codes, templates = patterns
        hits = pc.match_substring_regex(pa.array(templates, pa.string()), loose)
        wanted = np.flatnonzero(hits.to_numpy(zero_copy_only=False))
        row_codes = codes[rows]
        maybe = rows[np.isin(row_codes, wanted) | (row_codes < 0)]
    hits = [np.zeros(0, dtype=np.int64)]
    # Context rows are never mined, so candidates can be hours of lines: read them in chunks
    # (in frame order; sorted back to time order below).
    for part, chunk in view.chunks("message", maybe):
        messages = pc.fill_null(chunk, "")
        if patterns is None:
            found = pc.match_substring_regex(messages, loose).to_numpy(zero_copy_only=False)
            part, messages = part[found], messages.filter(pa.array(found))
        hit = pc.match_substring_regex(messages, exact)
        hits.append(part[hit.to_numpy(zero_copy_only=False)])
    return np.sort(np.concatenate(hits))


def _was_running(
    spans: pd.DataFrame, service: int, before_us: int, version: str, starting: set[str]
) -> bool:
    """Whether other, earlier instances of the service already ran an image of this version."""
    earlier = spans[
        (spans["service"] == service)
        & (spans["first_us"] < before_us)
        & ~spans["name"].isin(starting)
    ]
    tags = earlier["image"].dropna().str.rsplit(":", n=1).str[-1]
    return bool(tags.isin([version, f"v{version}"]).any())


def _marker_event(
    view: WindowedFrame, kind: ChangeKind, group: np.ndarray, spans: pd.DataFrame | None
) -> ChangeEvent:
    service = int(view.service[group[0]])
    name = view.service_names[service]
    first_message = view.strings("message", group[:1])[0] or ""
    starting = set(view.strings("instance", group))
    what = "shut down"
    if kind == "deploy":
        found = _VERSION.search(first_message)
        version = found.group(1) if found else None
        what = f"started version {version}" if version else "started"
        # Pods starting the version already running are a restart or a scale-out, not a deploy.
        at = int(view.ts[group[0]])
        if version and spans is not None and _was_running(spans, service, at, version, starting):
            kind, what = "restart", f"started version {version} again (already running)"
    return ChangeEvent(
        at=view.time(int(group[0])),
        kind=kind,
        service=name,
        summary=f"{name} {what} on {len(starting)} instance(s) ({len(group)} marker lines)",
        source="app",
        evidence_ids=view.evidence(group[:EVIDENCE]),
    )


def marker_changes(
    view: WindowedFrame,
    rows: np.ndarray,
    patterns: RowPatterns | None = None,
    spans: pd.DataFrame | None = None,
) -> list[ChangeEvent]:
    """Start-with-version and shutdown lines, grouped per service into bursts.

    `spans` (instances with their images) tells a new version from a restart of the old one.
    """
    events = []
    for kind, loose, exact in _MARKERS:
        marked = _marker_rows(view, rows, loose, exact, patterns)
        for service in np.unique(view.service[marked]).tolist():
            mine = marked[view.service[marked] == service]
            clusters = _clusters(view.ts[mine])
            events += [_marker_event(view, kind, mine[c], spans) for c in clusters]
    return events


def known_services(view: WindowedFrame) -> list[str]:
    traffic = np.unique(view.service[view.traffic])
    return [
        view.service_names[s] for s in traffic.tolist() if view.service_names[s] != UNKNOWN_SERVICE
    ]


def detect_changes(view: WindowedFrame, patterns: RowPatterns | None = None) -> list[ChangeEvent]:
    """CloudTrail and application change events from the context before the incident to its end.

    `patterns` (each view row's pattern code, -1 when not mined, and the template per code)
    lets the marker search read templates instead of every line.
    """
    start = to_us(view.windows.incident.start - CONTEXT_BEFORE)
    end = to_us(view.windows.incident.end)
    in_range = (view.ts >= start) & (view.ts < end)
    trail_rows = where(in_range & view.change_record)
    app_rows = where(in_range & view.traffic)
    events = cloudtrail_changes(view, trail_rows, known_services(view))
    if app_rows.size:
        spans = _with_images(view, _instance_spans(view, app_rows))
        events += image_changes(view, spans)
        events += instance_changes(view, app_rows, spans)
        events += marker_changes(view, app_rows, patterns, spans)
    events = collapse_repeats(events)
    events.sort(key=lambda e: (e.at, e.kind, e.service or "", e.summary))
    return events


def collapse_repeats(events: list[ChangeEvent], at_least: int = 3) -> list[ChangeEvent]:
    """One event for routine churn that touches no known service (an autoscaler terminating
    nodes all afternoon), so that it cannot bury the one change that matters."""
    groups: dict[tuple, list[ChangeEvent]] = {}
    for event in events:
        if event.service is None:
            groups.setdefault((event.kind, event.summary, event.actor, event.source), []).append(
                event
            )
    out = [e for e in events if e.service is not None]
    for group in groups.values():
        if len(group) < at_least:
            out.extend(group)
            continue
        group.sort(key=lambda e: e.at)
        first, last = group[0], group[-1]
        out.append(
            first.model_copy(
                update={
                    "summary": f"{first.summary} ×{len(group)}, {first.at:%H:%M}–{last.at:%H:%M}",
                    "evidence_ids": [e.evidence_ids[0] for e in group[:EVIDENCE] if e.evidence_ids],
                }
            )
        )
    return out
