"""Guessing an object's format from its key and its first bytes."""

from __future__ import annotations

import re

from tasks.contracts import LogFormat
from tasks.gather.formats._jsonlines import decode_line
from tasks.gather.formats.fluentbit_k8s import K8S
from tasks.gather.formats.keys import EXPORT_KEY_RE

_CLOUDTRAIL_DOC_RE = re.compile(rb'^\s*\{\s*"Records"\s*:')


# A flow-log header, or a version-2 record: version, 12-digit account, interface or "-".
_VPC_LINE_RE = re.compile(rb"^(?:version account-id |\d+ \d{12} (?:eni-|-))")


_ALB_LINE_RE = re.compile(rb"^(?:http|https|h2|ws|wss|grpcs) \d{4}-\d{2}-\d{2}T\S+ \S+ \S+ \S+ ")


_ISO_LINE_RE = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}) ")


def sniff_format(key: str, head: bytes) -> LogFormat:
    """Guess an object's format from its key, then from its first ~64 KiB (decompressed)."""
    lowered = key.lower()
    if "/cloudtrail/" in lowered or "_cloudtrail_" in lowered:
        return LogFormat.CLOUDTRAIL
    if "elasticloadbalancing" in lowered:
        return LogFormat.ALB
    if "vpcflowlogs" in lowered:
        return LogFormat.VPC_FLOW
    if _CLOUDTRAIL_DOC_RE.match(head):
        return LogFormat.CLOUDTRAIL
    first = next((line.strip() for line in head.split(b"\n") if line.strip()), b"")
    if first.startswith(b"{"):
        return _sniff_json_line(first)
    if _ALB_LINE_RE.match(first):
        return LogFormat.ALB
    if _VPC_LINE_RE.match(first):
        return LogFormat.VPC_FLOW
    if _ISO_LINE_RE.match(first) and EXPORT_KEY_RE.search(key):
        return LogFormat.CLOUDWATCH_EXPORT
    return LogFormat.TEXT


def _sniff_json_line(line: bytes) -> LogFormat:
    try:
        values = decode_line(line)
    except ValueError:
        # Cut off by the head's size limit, most likely; a key test still works.
        return LogFormat.FLUENTBIT_K8S if b'"kubernetes"' in line else LogFormat.JSONL
    first = values[0] if values else None
    if isinstance(first, dict) and isinstance(first.get(K8S), dict):
        return LogFormat.FLUENTBIT_K8S
    return LogFormat.JSONL
