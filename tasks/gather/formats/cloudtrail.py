"""cloudtrail: one JSON document `{"Records": [...]}` per object; the `line` of a row is
the 1-based index of its record.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pyarrow as pa

from tasks.contracts import PARSED_SCHEMA, RejectTally
from tasks.gather.formats._arrow import orjson_text
from tasks.gather.formats._context import TRUNCATED, ParseContext
from tasks.gather.formats._rows import records_table

# requestParameters keys naming the resource a call changed, best first. `name` is only a
# resource for a few services (SSM parameters, EKS clusters); elsewhere it is too vague.
_CT_RESOURCE_KEYS = (
    "service",
    "functionName",
    "dBInstanceIdentifier",
    "dBClusterIdentifier",
    "autoScalingGroupName",
    "targetGroupArn",
    "loadBalancerName",
    "tableName",
    "stackName",
    "secretId",
    "queueUrl",
    "topicArn",
    "bucketName",
    "family",
)


_CT_NAME_SOURCES = {"ssm", "eks", "ecr", "codedeploy"}


_CT_MESSAGE_KEYS = {
    "service": "service",
    "cluster": "cluster",
    "taskDefinition": "taskDefinition",
    "desiredCount": "desiredCount",
    "functionName": "function",
    "dBInstanceIdentifier": "db",
    "dBClusterIdentifier": "cluster",
    "autoScalingGroupName": "asg",
    "name": "name",
    "userName": "user",
    "roleName": "role",
    "groupName": "group",
    "instanceId": "instance",
}


_CT_PARAMS_MAX_CHARS = 2048


def _short_resource(value: Any) -> str | None:
    """arn:aws:ecs:...:service/prod/checkout -> checkout; queue URLs -> the queue name."""
    if not isinstance(value, str) or not value:
        return None
    if "targetgroup/" in value:
        return value.split("targetgroup/", 1)[1].split("/", 1)[0]
    if value.startswith("arn:"):
        tail = value.split(":", 5)[-1]
        if value.split(":")[2] == "lambda":
            return value.split(":")[6] if len(value.split(":")) > 6 else tail
        return tail.rsplit("/", 1)[-1]
    if value.startswith("https://"):
        return value.rstrip("/").rsplit("/", 1)[-1]
    return value


def _ct_source(event: dict) -> str:
    source = event.get("eventSource") or (event.get("insightDetails") or {}).get("eventSource")
    return str(source or "aws").split(".", 1)[0]


def _ct_service(event: dict, source: str) -> str:
    params = event.get("requestParameters")
    if isinstance(params, dict):
        for key in _CT_RESOURCE_KEYS:
            name = _short_resource(params.get(key))
            if name:
                return name
        if source in _CT_NAME_SOURCES:
            name = _short_resource(params.get("name") or params.get("clusterName"))
            if name:
                return name
    return source


def _ct_actor(identity: Any) -> str | None:
    if not isinstance(identity, dict):
        return None
    if identity.get("userName"):
        return str(identity["userName"])
    arn = identity.get("arn")
    if isinstance(arn, str) and arn:
        # arn:aws:sts::123:assumed-role/DeployRole/alice -> DeployRole/alice
        resource = arn.split(":", 5)[-1]
        return resource.split("/", 1)[1] if "/" in resource else resource
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("userName")
    return issuer or identity.get("invokedBy") or identity.get("type")


def _ct_message(event: dict, source: str, actor: str | None) -> str:
    name = event.get("eventName") or (event.get("insightDetails") or {}).get("eventName") or "?"
    text = f"{source}:{name}"
    insight = event.get("insightDetails")
    if isinstance(insight, dict):
        text += f" insight {insight.get('insightType', '')} {insight.get('state', '')}".rstrip()
    params = event.get("requestParameters")
    if isinstance(params, dict):
        for key, label in _CT_MESSAGE_KEYS.items():
            value = params.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                text += f" {label}={_short_resource(value) if isinstance(value, str) else value}"
    if actor:
        text += f" by {actor}"
    if event.get("errorCode"):
        text += f" failed: {event['errorCode']}"
    return text


def _ct_params(params: Any) -> Any:
    """requestParameters, cut to a readable size: a huge policy document helps no one."""
    if params is None:
        return None
    text = orjson_text(params)
    return params if len(text) <= _CT_PARAMS_MAX_CHARS else text[:_CT_PARAMS_MAX_CHARS] + "…"


def _ct_record(event: dict) -> dict[str, Any]:
    source = _ct_source(event)
    identity = event.get("userIdentity")
    actor = _ct_actor(identity)
    attrs = {
        "eventSource": event.get("eventSource"),
        "eventName": event.get("eventName"),
        "eventType": event.get("eventType"),
        "actor": actor,
        "actorArn": identity.get("arn") if isinstance(identity, dict) else None,
        "errorCode": event.get("errorCode"),
        "errorMessage": event.get("errorMessage"),
        "readOnly": event.get("readOnly"),
        "requestParameters": _ct_params(event.get("requestParameters")),
        "resources": event.get("resources"),
        "sourceIPAddress": event.get("sourceIPAddress"),
        "awsRegion": event.get("awsRegion"),
        "eventID": event.get("eventID"),
        "insightDetails": event.get("insightDetails"),
    }
    ts = event.get("eventTime")
    return {
        "ts": ts if isinstance(ts, str) else None,
        "service": _ct_service(event, source),
        "level": "error" if event.get("errorCode") else "info",
        "message": _ct_message(event, source, actor),
        "attrs": orjson_text({k: v for k, v in attrs.items() if v is not None}),
    }


_RECORDS_START_RE = re.compile(rb'^\s*\{\s*"Records"\s*:\s*\[')


def _complete_records(data: bytes) -> list[Any] | None:
    """The records that are whole in a document that does not parse (cut short by a failed
    upload or a truncated copy), or None when it does not even start like CloudTrail."""
    start = _RECORDS_START_RE.match(data)
    if start is None:
        return None
    text = data[start.end() :].decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    events: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return events
        try:
            event, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return events
        events.append(event)


def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
    """A CloudTrail document -> one row per record; a document cut short keeps its complete
    records and reports TRUNCATED at the index of the first missing one."""
    tally = RejectTally()
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        events = _complete_records(data)
        if events is None:
            tally.add(first_line, "invalid_json", f"not a CloudTrail JSON document: {exc}")
            return PARSED_SCHEMA.empty_table(), tally
        # The records before the break are genuine events; keep them and say what is missing.
        cut_short = not data.rstrip().endswith(b"}")
        tally.add(
            first_line + len(events),
            TRUNCATED if cut_short else "invalid_json",
            f"the document {'ends' if cut_short else 'breaks'} after {len(events)} complete "
            f"records: {exc}",
        )
        doc = {"Records": events}
    events = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        tally.add(first_line, "not_cloudtrail", 'expected a {"Records": [...]} document')
        return PARSED_SCHEMA.empty_table(), tally
    records, lines, raws = [], [], {}
    for i, event in enumerate(events, start=first_line):
        if not isinstance(event, dict):
            tally.add(i, "not_an_object", orjson_text(event))
            continue
        records.append(_ct_record(event))
        lines.append(i)
        raws[i] = event
    table = records_table(records, lines, lambda i: orjson_text(raws[i]), tally, bad_ts=False)
    return table, tally
