"""What an object's key says about its records: the service that wrote them."""

from __future__ import annotations

import re

from tasks.contracts import Source
from tasks.gather.formats.fluentbit_k8s import workload_name

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


EXPORT_KEY_RE = re.compile(rf"(?:^|/)(?P<task>{_UUID})/(?P<stream>.+)/\d{{6}}(?:\.gz)?$")


_KUBE_TAG_RE = re.compile(
    r"kube\.var\.log\.containers\.(?P<pod>[^_/]+)_(?P<ns>[^_/]+)_(?P<container>[^/]+?)"
    r"-[0-9a-f]{64}\.log"
)


_KUBE_STREAM_RE = re.compile(
    r"^(?P<pod>[a-z0-9][a-z0-9.-]*)_(?P<ns>[a-z0-9-]+)_(?P<container>[a-z0-9-]+)"
)


_ALB_KEY_RE = re.compile(r"_elasticloadbalancing_[a-z0-9-]+_(?:app|net)\.(?P<lb>[^.]+)\.")


_HIVE_SERVICE_RE = re.compile(r"(?:^|/)(?:service|app|application)=(?P<name>[^/]+)")


_GENERIC_SEGMENTS = {"logs", "log", "exports", "export", "exportedlogs", "cloudwatch", "aws", ""}


def service_from_key(key: str) -> str | None:
    """Best guess of the service an object's records come from, from its key alone."""
    m = _KUBE_TAG_RE.search(key)
    if m:
        return workload_name(m.group("pod"))
    m = _HIVE_SERVICE_RE.search(key)
    if m:
        return m.group("name")
    m = _ALB_KEY_RE.search(key)
    if m:
        return m.group("lb")
    m = EXPORT_KEY_RE.search(key)
    if m:
        return _export_service(key[: m.start("task")], m.group("stream"))
    return None


def _export_service(prefix: str, stream: str) -> str | None:
    """A CloudWatch export: <prefix>/<exportTaskId>/<logStream>/000000.gz. The stream names
    the container for ECS (ecs/<container>/<task>) and EKS (<pod>_<ns>_<container>); the
    prefix is chosen by whoever exported, usually after the log group."""
    parts = stream.split("/")
    if len(parts) == 3 and parts[0] in ("ecs", "fargate"):
        return parts[1]
    kube = _KUBE_STREAM_RE.match(stream)
    if kube:
        return workload_name(kube.group("pod"))
    segments = [s for s in prefix.split("/") if s.lower() not in _GENERIC_SEGMENTS]
    if segments:
        return segments[-1]
    return stream.replace("/", "-") or None


def export_stream(key: str) -> str | None:
    m = EXPORT_KEY_RE.search(key)
    return m.group("stream") if m else None


# Suffixes a log file's name carries after the service's name: compression, rotation numbers
# and dates (nova-compute.log.1.gz, app.log.2026-01-05), and the log extension itself.
_FILE_SUFFIX_RE = re.compile(
    r"(?:\.(?:gz|gzip|zst|zstd|bz2|xz|lz4)$"
    r"|\.\d+$|\.\d{4}-?\d{2}-?\d{2}(?:[T_-]?\d{2,6})?$"
    r"|\.(?:log|logs|txt|out|err|json|jsonl|ndjson)$)",
    re.IGNORECASE,
)


def file_service(key: str) -> str | None:
    """The service a log file's name gives: `nova/nova-compute.log.gz` -> `nova-compute`."""
    name = key.rsplit("/", 1)[-1]
    while True:
        stem = _FILE_SUFFIX_RE.sub("", name, count=1)
        if stem == name or not stem:
            break
        name = stem
    return name or None


def default_service(source: Source, key: str) -> str:
    """The service of an object's records when they name none themselves.

    In order: the source's own `service_pattern`, a layout the key is known to follow (Fluent
    Bit tags, CloudWatch exports, ALB keys, `service=` folders), the file's name in a local
    folder (one file per process, as OpenStack and most hosts keep them), else the source.
    """
    if source.service_pattern:
        m = re.search(source.service_pattern, key)
        if m and m.group("service"):
            return m.group("service")
    known = service_from_key(key)
    if known:
        return known
    if not source.is_s3:
        return file_service(key) or source.name
    return source.name
