"""A deterministic generator of realistic incidents: logs in their S3 layouts, plus the truth.

Every later test, benchmark and `postmortem demo` reuses it, so it aims at two things at once:

* **Realism.** A small shop runs on EKS: eight services with a call graph, Fluent Bit shipping
  container logs to S3, an internet-facing ALB writing access logs, and CloudTrail. Each scenario
  is simulated request by request through the call graph, so a failure in one service shows up
  downstream exactly as it would: callers time out, retry, log their own errors and return 5xx.
  The root cause is therefore never the loudest service, its onset rarely matches the window the
  SRE reported, and the data also holds what confuses real responders: background errors, a
  harmless deploy and config write in the baseline, and a red-herring burst in an unrelated
  service during the incident.
* **Determinism and bounded cost.** Everything is drawn from generators seeded by
  (scenario, seed), so the same arguments give the same bytes. Objects are written one at a
  time as simulated time passes them, so memory is bounded by one flush interval whatever the
  `scale`; 200k+ lines take a few seconds.

What is written under `source_root` (keys relative to it):

* `fluent-bit-logs/kube.prod.<service>/%Y/%m/%d/%H/%M/%S` — Fluent Bit S3 output, gzip JSON
  lines, one object per service per 1–5 minutes, some made of several gzip members.
* `AWSLogs/<acct>/elasticloadbalancing/<region>/yyyy/mm/dd/<acct>_elasticloadbalancing_<region>_
  app.<lb>.<lb-id>_<end-time>_<node-ip>_<random>.log.gz` — one file per LB node per 5 minutes.
* `AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<time>_<random>.json.gz`
  and hourly `AWSLogs/<acct>/CloudTrail-Digest/...` objects, which a reader must skip.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import uuid
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import orjson
import yaml
from isal import igzip
from pydantic import AwareDatetime, BaseModel

from tasks.contracts import IncidentSpec, LogFormat, Source, TimeWindow

# --------------------------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------------------------


class ObjectSink(Protocol):
    def put(self, key: str, data: bytes) -> None: ...


class LocalSink:
    """Writes each object to `root/key`, creating parent folders."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = (self.root / key).resolve()
        # Keys come from this module, but a sink is also handed to callers' code: never let a
        # key climb out of the root.
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} escapes the sink root {self.root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class S3Sink:
    """Writes each object with `put_object` to one bucket."""

    def __init__(self, client, bucket: str):
        self.client = client
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)


# --------------------------------------------------------------------------------------------
# The world: services, call graph, AWS names
# --------------------------------------------------------------------------------------------

ACCOUNT_ID = "284619730551"
REGION = "us-east-1"
NAMESPACE = "prod"
DOMAIN = "shop.example.com"
LB_NAME = "shop-prod-edge"
LB_ID = "6f2b1c9d04e7a315"
LB_NODE_IPS = ("10.0.101.37", "10.0.102.118", "10.0.103.74")
REGISTRY = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
TRAIL_NAME = "org-management-events"
DEFAULT_INCIDENT_START = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)

APP_PREFIX = "fluent-bit-logs/"
ALB_PREFIX = f"AWSLogs/{ACCOUNT_ID}/elasticloadbalancing/"
# Deliberately slash-less, as SREs often write it: it also matches CloudTrail-Digest/, which a
# reader has to skip.
CLOUDTRAIL_PREFIX = f"AWSLogs/{ACCOUNT_ID}/CloudTrail"


@dataclass(frozen=True)
class ServiceDef:
    name: str
    lang: str  # node | java | go | python | text: decides the shape of its log lines
    port: int
    replicas: int
    version: str  # running when the incident starts
    week_ago_version: str  # running 7 days earlier
    probes_logged: bool  # whether kubelet probes show up in its access log


SERVICES: dict[str, ServiceDef] = {
    s.name: s
    for s in (
        ServiceDef("frontend", "node", 3000, 4, "2.18.3", "2.17.9", False),
        ServiceDef("checkout", "java", 8080, 3, "1.42.0", "1.41.2", False),
        ServiceDef("payments", "go", 8080, 2, "3.7.1", "3.7.0", False),
        ServiceDef("inventory", "python", 8000, 3, "5.3.2", "5.3.1", True),
        ServiceDef("auth", "go", 8080, 3, "2.9.0", "2.9.0", True),
        ServiceDef("search", "python", 8000, 2, "4.2.0", "4.1.7", True),
        ServiceDef("recommendations", "python", 8000, 2, "0.9.3", "0.9.1", True),
        ServiceDef("pgbouncer", "text", 6432, 2, "1.23.1", "1.23.1", False),
    )
}

#: Who calls whom (synchronously). "psp" is the external payment provider, "redis" auth's
#: session store; neither writes logs here.
CALL_GRAPH: dict[str, tuple[str, ...]] = {
    "alb": ("frontend", "search", "auth"),
    "frontend": ("auth", "inventory", "recommendations", "checkout"),
    "checkout": ("auth", "inventory", "payments", "pgbouncer"),
    "inventory": ("pgbouncer",),
    "payments": ("psp",),
    "auth": ("redis",),
    "search": (),
    "recommendations": (),
    "pgbouncer": (),
}

#: ALB target groups, named after the services behind them.
TARGET_GROUPS = {
    svc: f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:targetgroup/{svc}/{tg_id}"
    for svc, tg_id in (
        ("frontend", "3c5e7a9b1d2f4068"),
        ("search", "8a1f0e2d4c6b9375"),
        ("auth", "b7d9e1f3a5c20486"),
    )
}
_RULE_PRIORITY = {"frontend": 0, "search": 10, "auth": 20}
_CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/5d0b2f7e-93a1-4c6e-8f2b-1a7c9e4d3b60"

_K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

_CI_ROLE = "github-actions-deploy"
_HUMAN_ROLE = "AWSReservedSSO_PlatformAdmin_4f2a9c1e7b3d5a60"
_SRE_ROLE = "AWSReservedSSO_SRE-OnCall_9e1c3b5a7d2f4068"


# --------------------------------------------------------------------------------------------
# Public models
# --------------------------------------------------------------------------------------------


class GroundTruth(BaseModel):
    """What really happened; written as JSON apart from the logs.

    `incident_window` is the true impact (root-cause onset to recovery), not the window the SRE
    reported (that one is `IncidentSpec.window`). `change_event` names the CloudTrail record
    that caused the incident (`time`, `eventName`, `eventSource`, `service`, `actor`,
    `eventID`), or is None when no change caused it. Each `noise` entry reads
    "<service or cloudtrail>: <what>", for the things that are deliberately misleading.
    """

    scenario: str
    seed: int
    root_cause_service: str
    kind: str
    onset: AwareDatetime
    incident_window: TimeWindow
    change_event: dict | None = None
    cascading_services: list[str]
    noise: list[str]
    description: str


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # incident category recorded in the ground truth
    summary: str
    roots: tuple[str, ...]  # root-cause services this scenario picks from, by seed
    week_ago: bool  # also write the same window 7 days earlier
    severity: str
    symptom: str  # how the SRE's title describes it


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "bad-deploy",
            "deploy",
            "A new version of one service throws a new exception on one code path; callers "
            "get 5xx from it.",
            ("checkout", "inventory", "payments"),
            True,
            "SEV2",
            "5xx spike",
        ),
        Scenario(
            "dependency-timeout",
            "dependency",
            "A service's own dependency (the external payment provider, or auth's Redis) slows "
            "down; its callers time out and retry.",
            ("payments", "auth"),
            False,
            "SEV2",
            "Timeouts and 504s",
        ),
        Scenario(
            "db-pool-exhaustion",
            "resource-exhaustion",
            "A bulk job holds database connections; the service's connection pool runs dry and "
            "requests wait 30 s for a connection; callers time out.",
            ("inventory", "checkout"),
            True,
            "SEV2",
            "Slow pages and 5xx",
        ),
        Scenario(
            "config-change",
            "config",
            "An SSM parameter is changed by hand; the service reloads it minutes later and "
            "starts failing; a revert fixes it.",
            ("auth", "payments"),
            True,
            "SEV2",
            "Errors and failed sessions",
        ),
        Scenario(
            "lb-throttling",
            "overload",
            "A mobile-app release retries logins in a tight loop; auth's in-flight limit sheds "
            "load, so the ALB returns 503/502 for the auth target group and the frontend's "
            "session checks fail; a WAF rate-based rule stops it.",
            ("auth",),
            False,
            "SEV2",
            "Login failures and 5xx at the edge",
        ),
    )
}


@dataclass
class SourceStats:
    objects: int = 0
    lines: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0


@dataclass
class GenerationStats:
    """Volumes written, and error lines per service, for benchmarks and tests."""

    sources: dict[str, SourceStats] = field(default_factory=dict)
    lines_in_windows: int = 0  # records in the incident window plus the default baseline
    errors_incident: dict[str, int] = field(default_factory=dict)  # app error lines/service
    errors_baseline: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.sources.values())

    @property
    def bytes_uncompressed(self) -> int:
        return sum(s.bytes_uncompressed for s in self.sources.values())

    @property
    def bytes_compressed(self) -> int:
        return sum(s.bytes_compressed for s in self.sources.values())


@dataclass
class GeneratedIncident:
    spec: IncidentSpec
    truth: GroundTruth
    stats: GenerationStats


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def generate_incident(
    scenario: str,
    seed: int,
    sink: ObjectSink,
    *,
    source_root: str,
    scale: float = 1.0,
    incident_start: datetime | None = None,
) -> tuple[IncidentSpec, GroundTruth]:
    """Write one incident's logs to `sink` and return the SRE's spec and the ground truth."""
    result = generate(
        scenario, seed, sink, source_root=source_root, scale=scale, incident_start=incident_start
    )
    return result.spec, result.truth


def generate(
    scenario: str,
    seed: int,
    sink: ObjectSink,
    *,
    source_root: str,
    scale: float = 1.0,
    incident_start: datetime | None = None,
) -> GeneratedIncident:
    """Like `generate_incident`, and also return what was written (volumes, error counts)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    start = DEFAULT_INCIDENT_START if incident_start is None else incident_start
    if start.tzinfo is None:
        raise ValueError("incident_start has no timezone; pass an aware datetime (UTC)")
    started = time.perf_counter()
    gen = _Generator(SCENARIOS[scenario], seed, sink, scale, start.astimezone(UTC))
    gen.run()
    gen.stats.seconds = time.perf_counter() - started
    spec = gen.spec(source_root.rstrip("/"))
    return GeneratedIncident(spec=spec, truth=gen.truth(), stats=gen.stats)


def write_outputs(spec: IncidentSpec, truth: GroundTruth, folder: Path) -> None:
    """Write `incident.yaml` (what the SRE hands over) and `ground_truth.json` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = spec.model_dump(mode="json")
    (folder / "incident.yaml").write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    (folder / "ground_truth.json").write_text(truth.model_dump_json(indent=2) + "\n", "utf-8")


# --------------------------------------------------------------------------------------------
# Internals: pods, faults, plan
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Pod:
    svc: ServiceDef
    name: str
    ip: str
    version: str
    ready_from: float
    ready_until: float
    probe_offset: float = 0.0  # where in each 10 s its kubelet probes land
    suffix: bytes = b""  # the serialized ',"kubernetes":{...}}' that ends each record


@dataclass
class _Fault:
    """The root cause's behaviour: `level(t)` in [0, 1] ramps up, holds, then fades."""

    kind: str  # bug | slow | pool | config | shed
    service: str
    start: float
    end: float
    ramp: float = 60.0
    tail: float = 90.0
    p: float = 1.0  # probability that an affected request fails at full level
    version: str | None = None  # bug: only pods running this version fail
    pod_start: dict[str, float] = field(default_factory=dict)  # config: per-pod reload time

    def level(self, t: float) -> float:
        if t < self.start:
            return 0.0
        if t < self.start + self.ramp:
            return (t - self.start) / self.ramp
        if t < self.end:
            return 1.0
        if t < self.end + self.tail:
            return 1.0 - (t - self.end) / self.tail
        return 0.0


@dataclass
class _Rollout:
    service: str
    at: float
    version: str
    reason: str  # deploy | rollback | scale-up
    count: int | None = None  # scale-up: pods added


@dataclass
class _CtEvent:
    """A scheduled CloudTrail write (a cause, a fix, or noise)."""

    t: float
    record: dict


@dataclass
class _Segment:
    name: str  # main | week
    start: float
    end: float
    faults: bool  # whether the scenario's fault, red herring and deploys happen here


def _iso_s(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _hhmm(t: float) -> str:
    return time.strftime("%H:%M", time.gmtime(t)) + "Z"


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 3), tz=UTC)


def _bump(version: str, part: int) -> str:
    nums = [int(x) for x in version.split(".")]
    nums[part] += 1
    for i in range(part + 1, len(nums)):
        nums[i] = 0
    return ".".join(map(str, nums))


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Writers: each turns records into objects in the right layout as simulated time passes
# --------------------------------------------------------------------------------------------

_MAX_OBJECT_BYTES = 48 * 1024 * 1024  # Fluent Bit's total_file_size; ALB also splits busy files


def _gzip(data: bytes) -> bytes:
    # mtime=0 keeps the bytes reproducible; level 1 of ISA-L runs at ~1.5 GB/s.
    return igzip.compress(data, 1, mtime=0)


class _FluentBitWriter:
    """Per-service buffers flushed on an upload timer, like Fluent Bit's S3 output."""

    INTERVALS: ClassVar[dict[str, int]] = {
        "frontend": 60,
        "auth": 120,
        "inventory": 120,
        "recommendations": 120,
    }

    def __init__(self, sink: ObjectSink, rng: random.Random, stats: SourceStats, start: float):
        self.sink, self.rng, self.stats = sink, rng, stats
        self.buf: dict[str, list[tuple[float, bytes]]] = {s: [] for s in SERVICES}
        self.size: dict[str, int] = dict.fromkeys(SERVICES, 0)
        self.interval = {
            s: self.INTERVALS.get(s, 300 if s == "pgbouncer" else 180) for s in SERVICES
        }
        self.deadline = {s: start + rng.uniform(10, self.interval[s]) for s in SERVICES}
        self.used: set[str] = set()

    def add(self, service: str, t: float, record: bytes) -> None:
        self.buf[service].append((t, record))
        self.size[service] += len(record) + 1
        if self.size[service] > _MAX_OBJECT_BYTES:
            self._flush(service, math.inf)

    def flush(self, clock: float) -> None:
        # Records may be appended up to a minute after their timestamp (slow requests log when
        # they end), so an object is written only once the clock is well past its deadline.
        for service in SERVICES:
            while self.deadline[service] + 60 <= clock:
                self._flush(service, self.deadline[service])
                self.deadline[service] += self.interval[service] + self.rng.uniform(-4, 4)

    def close(self) -> None:
        for service in SERVICES:
            self._flush(service, math.inf)

    def _flush(self, service: str, before: float) -> None:
        items = self.buf[service]
        if not items:
            return
        out = [x for x in items if x[0] < before]
        if not out:
            return
        self.buf[service] = [x for x in items if x[0] >= before]
        self.size[service] = sum(len(r) + 1 for _, r in self.buf[service])
        out.sort(key=lambda x: x[0])
        first = int(out[0][0])
        while True:
            key = f"{APP_PREFIX}kube.{NAMESPACE}.{service}/" + time.strftime(
                "%Y/%m/%d/%H/%M/%S", time.gmtime(first)
            )
            if key not in self.used:
                break
            first += 1  # Fluent Bit would overwrite; keep both by nudging the key
        self.used.add(key)
        records = [r for _, r in out]
        # Chunked writers concatenate gzip members; readers that stop after the first member
        # silently lose data, so about a quarter of the objects are multi-member.
        if len(records) >= 3 and self.rng.random() < 0.25:
            cuts = sorted(self.rng.sample(range(1, len(records)), min(2, len(records) - 1)))
            bounds = [0, *cuts, len(records)]
            parts = [b"\n".join(records[a:b]) + b"\n" for a, b in pairwise(bounds)]
        else:
            parts = [b"\n".join(records) + b"\n"]
        data = b"".join(_gzip(p) for p in parts)
        self.sink.put(key, data)
        self.stats.objects += 1
        self.stats.lines += len(records)
        self.stats.bytes_uncompressed += sum(len(p) for p in parts)
        self.stats.bytes_compressed += len(data)


class _AlbWriter:
    """One file per LB node per 5 minutes, named by the end of the interval."""

    def __init__(self, sink: ObjectSink, rng: random.Random, stats: SourceStats):
        self.sink, self.rng, self.stats = sink, rng, stats
        self.buf: dict[tuple[int, int], list[bytes]] = defaultdict(list)
        self.size: Counter[tuple[int, int]] = Counter()

    def add(self, node: int, t: float, line: bytes) -> None:
        slot = (node, int(t // 300))
        self.buf[slot].append(line)
        self.size[slot] += len(line) + 1
        if self.size[slot] > _MAX_OBJECT_BYTES:
            self._flush(slot)

    def flush(self, clock: float) -> None:
        for slot in sorted(self.buf):
            if (slot[1] + 1) * 300 + 60 <= clock:
                self._flush(slot)

    def close(self) -> None:
        for slot in sorted(self.buf):
            self._flush(slot)

    def _flush(self, slot: tuple[int, int]) -> None:
        lines = self.buf.pop(slot, None)
        self.size.pop(slot, None)
        if not lines:
            return
        node, idx = slot
        end = (idx + 1) * 300
        rand = "".join(self.rng.choices(_LOWER_ALNUM, k=8))
        key = (
            f"{ALB_PREFIX}{REGION}/{time.strftime('%Y/%m/%d', time.gmtime(end))}/"
            f"{ACCOUNT_ID}_elasticloadbalancing_{REGION}_app.{LB_NAME}.{LB_ID}_"
            f"{time.strftime('%Y%m%dT%H%MZ', time.gmtime(end))}_{LB_NODE_IPS[node]}_{rand}.log.gz"
        )
        raw = b"\n".join(lines) + b"\n"
        data = _gzip(raw)
        self.sink.put(key, data)
        self.stats.objects += 1
        self.stats.lines += len(lines)
        self.stats.bytes_uncompressed += len(raw)
        self.stats.bytes_compressed += len(data)


# --------------------------------------------------------------------------------------------
# Log line catalogue (the new exception patterns and the callers' words for them)
# --------------------------------------------------------------------------------------------

_NPE = (
    'java.lang.NullPointerException: Cannot invoke "com.example.checkout.promo.PromoCode.'
    'discountFor(com.example.checkout.model.Cart)" because "promo" is null\n'
    "\tat com.example.checkout.pricing.PriceCalculator.applyPromotions(PriceCalculator.java:214)\n"
    "\tat com.example.checkout.pricing.PriceCalculator.total(PriceCalculator.java:88)\n"
    "\tat com.example.checkout.service.OrderService.createOrder(OrderService.java:131)\n"
    "\tat com.example.checkout.web.OrderController.create(OrderController.java:57)"
)
_KEYERROR = (
    "Traceback (most recent call last):\n"
    '  File "/app/inventory/api/reservations.py", line 142, in create_reservation\n'
    "    allocation = allocate(item, stock_by_warehouse)\n"
    '  File "/app/inventory/allocation.py", line 61, in allocate\n'
    '    wh = item["warehouse_id"]\n'
    "KeyError: 'warehouse_id'"
)
_GO_PANIC = (
    "goroutine {g} [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:26"
    "\ngithub.com/example/payments/internal/charge.(*Service).applyFX(0xc000412000, {{0x0, 0x0}})"
    "\n\t/src/internal/charge/fx.go:88 +0x1c4\ngithub.com/example/payments/internal/charge."
    "(*Service).Create(0xc000412000, {{0x1a2b3c0, 0xc0004e6f30}})\n\t/src/internal/charge/service.go:142"
)
_HIKARI = (
    "HikariPool-1 - Connection is not available, request timed out after 30000ms "
    "(total=10, active=10, idle=0, waiting={w})"
)
_QUEUEPOOL = (
    "QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00 "
    "(Background on this error at: https://sqlalche.me/e/20/3o7r)"
)
_OIDC = (
    'oidc: issuer did not match the issuer returned by provider, expected "https://login.shop-'
    'example.com" got "https://login.shop.example.com"'
)
_TIMEOUT_JAVA = (
    "org.springframework.web.client.ResourceAccessException: I/O error on {m} request for "
    '"http://{dep}.prod.svc.cluster.local:{port}{path}": Read timed out\n'
    "Caused by: java.net.SocketTimeoutException: Read timed out\n"
    "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:278)"
)
_PY_LEVEL = {
    "debug": "debug",
    "info": "info",
    "warn": "warning",
    "error": "error",
    "fatal": "critical",
}
_ERRORISH = frozenset(("error", "fatal"))

_STATIC = (
    "js/app.4f9c2b1e.js",
    "js/vendor.91d3a7c0.js",
    "css/main.0e8b5d2f.css",
    "img/logo.7a1c9e3b.svg",
    "img/hero.2d6f8a4c.webp",
    "fonts/inter.b3e5.woff2",
)
_CATEGORIES = ("shoes", "jackets", "backpacks", "outdoor", "kids", "sale", "new-in", "accessories")
_TERMS = (
    "rain+jacket",
    "trail+shoes",
    "backpack+30l",
    "wool+socks",
    "gift+card",
    "tent",
    "headlamp",
    "down+vest",
    "gloves",
    "sale",
)
_BROWSERS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "h2",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "h2",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "h2",
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "h2"),
    (
        "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.81 Mobile Safari/537.36",
        "h2",
    ),
    ("ShopApp/5.12.3 (iPhone; iOS 18.1; Scale/3.00)", "https"),
    ("ShopApp/5.12.3 (Android 15; Pixel 8)", "https"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "https"),
)
_BENIGN_PREVIOUS = {"search": "4.1.9", "recommendations": "0.9.2"}
_STORM_UA = "ShopApp/5.13.0 (iPhone; iOS 18.1; Scale/3.00)"

# Request mix at the edge: kind -> share of ALB requests.
_MIX = (
    ("static", 0.28),
    ("home", 0.09),
    ("product", 0.22),
    ("category", 0.07),
    ("cart", 0.07),
    ("checkout", 0.035),
    ("account", 0.025),
    ("search", 0.17),
    ("login", 0.04),
)
_BASE_RPM = 1150.0  # ALB requests per minute at scale 1.0


@dataclass(slots=True)
class _Resp:
    status: int
    ms: float
    fault: bool = False  # the failure came from the incident's root cause


@dataclass(slots=True)
class _Call:
    ok: bool
    status: int
    ms: float
    fault: bool
    timed_out: bool


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


class _Generator:
    def __init__(
        self, scenario: Scenario, seed: int, sink: ObjectSink, scale: float, start: datetime
    ):
        self.sc = scenario
        self.seed = seed
        self.sink = sink
        self.scale = scale
        self.key = f"{scenario.name}/{seed}"
        self.stats = GenerationStats(
            sources={n: SourceStats() for n in ("app", "alb", "cloudtrail")}
        )
        self.ws = start.timestamp()
        self.noise: list[str] = []
        self.ct_events: list[_CtEvent] = []
        self.rollouts: list[_Rollout] = []
        self.fault: _Fault | None = None
        self.red_herring: tuple[str, float, float] | None = None
        self.storm: tuple[float, float] | None = None
        self.trigger_lines: list[tuple[str, float, str, str, dict]] = []
        self.change_event: dict | None = None
        self.cascade: Counter[str] = Counter()
        self._sec: dict[int, str] = {}
        self._plan()

    # ---------------------------------------------------------------- plan (scale-independent)

    def _plan(self) -> None:
        r = random.Random(f"plan/{self.key}")
        self.D = r.randint(34, 45) * 60
        self.we = self.ws + self.D
        self.bs = self.ws - self.D  # default baseline: the equal-length window before
        self.root = r.choice(self.sc.roots)
        # SREs open the incident late or early: the root cause may start a few minutes before
        # the reported window or several minutes into it.
        self.onset = round(self.ws + r.uniform(-3.5 * 60, 7 * 60), 3)
        self.mitigated = round(min(self.onset + r.uniform(17, 26) * 60, self.we - 150), 3)
        rh = r.choice(("search", "recommendations"))
        rh_start = self.onset + r.uniform(5, 12) * 60
        self.red_herring = (rh, rh_start, min(rh_start + r.uniform(4, 8) * 60, self.we - 60))
        getattr(self, "_plan_" + self.sc.name.replace("-", "_"))(r)
        self._plan_noise(r, benign=("recommendations" if rh == "search" else "search"))

    def _plan_bad_deploy(self, r: random.Random) -> None:
        svc = SERVICES[self.root]
        new = _bump(svc.version, 1)
        self.new_version = new
        pushed = self.onset - r.uniform(3, 9) * 60
        rec = self._ct_put_image(r, pushed, self.root, new)
        self.ct_events.append(_CtEvent(pushed, rec))
        self.change_event = self._change(rec, self.root)
        self.rollouts.append(_Rollout(self.root, self.onset - 25, new, "deploy"))
        self.rollouts.append(_Rollout(self.root, self.mitigated, svc.version, "rollback"))
        p = {"checkout": 0.35, "inventory": 0.6, "payments": 0.45}[self.root]
        self.fault = _Fault(
            "bug", self.root, self.onset, self.mitigated + 60, ramp=1, tail=1, p=p, version=new
        )
        what = {
            "checkout": "a NullPointerException in PriceCalculator.applyPromotions for orders "
            "with a promo code",
            "inventory": "KeyError: 'warehouse_id' in the new multi-warehouse allocation "
            "(reservations, some stock reads)",
            "payments": "a nil-pointer panic in applyFX for non-EUR charges",
        }[self.root]
        self.description = (
            f"{self.root} {svc.version} -> {new} was rolled out from {_hhmm(self.onset)} "
            f"(image pushed by CI at {_hhmm(pushed)}, ECR PutImage). The new version throws "
            f"{what}; its callers get 5xx and log more errors than {self.root} itself. Rolled "
            f"back to {svc.version} at {_hhmm(self.mitigated)}."
        )

    def _plan_dependency_timeout(self, r: random.Random) -> None:
        self.fault = _Fault("slow", self.root, self.onset, self.mitigated, ramp=90, tail=120, p=1.0)
        if self.root == "payments":
            self.description = (
                f"From {_hhmm(self.onset)} the external payment provider "
                "(api.psp.example-pay.com) slowed from ~180 ms to 3-10 s. payments logs slow "
                "PSP calls (warn) and a few deadline errors; checkout times out calling "
                "payments after 3000 ms (and retries), the frontend returns 502 for checkouts. "
                f"The provider recovered at {_hhmm(self.mitigated)}. No change on our side."
            )
        else:
            self.description = (
                f"From {_hhmm(self.onset)} auth's Redis session store became slow (a primary "
                "under memory pressure): auth's session validation takes 0.5-3 s, with some "
                "'i/o timeout' errors. The frontend (800 ms) and checkout (1000 ms) time out "
                f"calling auth. Redis failed over at {_hhmm(self.mitigated)}. No change event."
            )

    def _plan_db_pool_exhaustion(self, r: random.Random) -> None:
        self.fault = _Fault(
            "pool", self.root, self.onset, self.mitigated, ramp=120, tail=90, p=0.75
        )
        job_start = self.onset - r.uniform(50, 110)
        if self.root == "inventory":
            self.trigger_lines += [
                (
                    "inventory",
                    job_start,
                    "info",
                    "bulk stock import started",
                    {
                        "job_id": "imp-erp-nightly-retry",
                        "rows": 482113,
                        "source": "s3://shop-erp-exports/stock/full-export.csv",
                    },
                ),
                (
                    "inventory",
                    self.mitigated,
                    "warn",
                    "bulk stock import cancelled by operator",
                    {"job_id": "imp-erp-nightly-retry", "rows_done": 201877},
                ),
            ]
            what = (
                "a re-run of the nightly ERP bulk stock import (holding connections in long "
                "UPDATE transactions) exhausted inventory's SQLAlchemy pool (QueuePool limit "
                "of size 20 overflow 10)"
            )
        else:
            self.trigger_lines += [
                (
                    "checkout",
                    job_start,
                    "info",
                    "Starting order export job",
                    {
                        "logger": "c.e.checkout.export.OrderExportJob",
                        "job": "finance-export",
                        "range": "2026-11-01/2026-11-24",
                    },
                ),
                (
                    "checkout",
                    self.mitigated,
                    "warn",
                    "Order export job cancelled",
                    {"logger": "c.e.checkout.export.OrderExportJob", "job": "finance-export"},
                ),
            ]
            what = (
                "an ad-hoc finance order export (long-running reads holding connections) "
                "exhausted checkout's HikariPool-1 (10 connections)"
            )
        self.description = (
            f"From {_hhmm(self.onset)} {what}. Requests wait 30 s for a connection and fail; "
            "most callers give up long before, so the callers' timeouts and 5xx far outnumber "
            f"the pool errors. The job was cancelled at {_hhmm(self.mitigated)}."
        )

    def _plan_config_change(self, r: random.Random) -> None:
        param, old_v = {
            "auth": ("/prod/auth/oidc/issuer_url", 14),
            "payments": ("/prod/payments/psp/base_url", 7),
        }[self.root]
        changed = self.onset - r.uniform(60, 200)
        reverted = self.mitigated - r.uniform(30, 90)
        rec = self._ct_put_parameter(r, changed, param, old_v + 1, "jane.doe@example.com")
        self.ct_events.append(_CtEvent(changed, rec))
        self.ct_events.append(
            _CtEvent(
                reverted,
                self._ct_put_parameter(r, reverted, param, old_v + 2, "jane.doe@example.com"),
            )
        )
        self.change_event = self._change(rec, self.root)
        self.config_param = (param, old_v)
        # Each pod polls SSM on its own 5-minute timer: the first reload is the onset.
        self.fault = _Fault("config", self.root, self.onset, self.mitigated, ramp=1, tail=1, p=1.0)
        self.config_reload = (self.onset, r.uniform(0, 200), self.mitigated)
        if self.root == "auth":
            what = (
                "set the OIDC issuer URL to a typo (login.shop-example.com); as auth's pods "
                "reloaded it, every session validation failed with 'oidc: issuer did not "
                "match' (500). The frontend falls back to anonymous pages and fails carts, "
                "checkouts and account pages"
            )
        else:
            what = (
                "pointed payments at the PSP sandbox URL; as payments' pods reloaded it, "
                "charges failed with 401 invalid_api_key and payments returned 502; "
                "checkout and the frontend fail every checkout"
            )
        self.description = (
            f"At {_hhmm(changed)} an SSM PutParameter on {param} (by a human, via SSO) {what}. "
            f"Onset {_hhmm(self.onset)} when the first pod reloaded; reverted at "
            f"{_hhmm(reverted)}, recovered as pods reloaded (~{_hhmm(self.mitigated)})."
        )

    def _plan_lb_throttling(self, r: random.Random) -> None:
        storm_start = self.onset - r.uniform(60, 120)
        self.storm = (storm_start, self.mitigated)
        self.fault = _Fault("shed", "auth", self.onset, self.mitigated, ramp=60, tail=60, p=0.6)
        self.rollouts.append(
            _Rollout(
                "auth",
                self.onset + r.uniform(180, 300),
                SERVICES["auth"].version,
                "scale-up",
                count=2,
            )
        )
        waf_at = self.mitigated - r.uniform(20, 60)
        self.ct_events.append(_CtEvent(waf_at, self._ct_waf_update(r, waf_at)))
        self.noise.append(
            f"auth: HPA scale-up (2 new pods, same version) at ~{_hhmm(self.onset + 240)}; a "
            "reaction to the load, not a cause"
        )
        self.noise.append(
            f"cloudtrail: wafv2 UpdateWebACL at {_hhmm(waf_at)} by the on-call SRE is the fix "
            "(a rate-based rule on /oauth/token), not the cause"
        )
        self.description = (
            f"From {_hhmm(storm_start)} the ShopApp 5.13.0 mobile release retried POST "
            "/oauth/token in a tight loop (ALB: 5-6x login requests from that user agent). "
            f"From {_hhmm(self.onset)} auth hit its in-flight limit (256) and shed load: the "
            "ALB returns 503 (and 502 on refused connections, 460 when clients give up) for "
            "targetgroup/auth, and the frontend's session checks against auth fail. A WAF "
            f"rate-based rule stopped the storm at {_hhmm(waf_at)}."
        )

    def _plan_noise(self, r: random.Random, benign: str) -> None:
        rh, rh_s, rh_e = self.red_herring
        what = {
            "search": "opensearch es_rejected_execution_exception errors and 503s",
            "recommendations": "model snapshot reload errors (serving a stale model)",
        }[rh]
        self.noise.append(
            f"{rh}: red herring, {what} {_hhmm(rh_s)}-{_hhmm(rh_e)} during the incident, "
            "unrelated to the root cause"
        )
        # A harmless deploy in the baseline, with its own PutImage: the same shape as a bad one.
        svc = SERVICES[benign]
        self.benign = benign
        self.benign_prev = _BENIGN_PREVIOUS[benign]
        at = self.bs + r.uniform(0.15, 0.55) * self.D
        self.rollouts.append(_Rollout(benign, at, svc.version, "deploy"))
        pushed = at - r.uniform(240, 480)
        self.ct_events.append(_CtEvent(pushed, self._ct_put_image(r, pushed, benign, svc.version)))
        self.noise.append(
            f"{benign}: routine deploy {self.benign_prev} -> {svc.version} at {_hhmm(at)} in "
            "the baseline window (with an ECR PutImage), harmless"
        )
        t = self.bs + r.uniform(0.1, 0.9) * self.D
        param = "/prod/recommendations/ranker/model_version"
        self.ct_events.append(
            _CtEvent(t, self._ct_put_parameter(r, t, param, 31, "sam.lee@example.com"))
        )
        self.noise.append(f"cloudtrail: PutParameter {param} at {_hhmm(t)} (baseline), harmless")
        self.noise.append(
            "background: known low-rate errors in both windows (search opensearch timeouts, "
            "recommendations embeddings AccessDenied, frontend TypeError, auth invalid_grant, "
            "payments card declines, ALB 460/502)"
        )
        self.noise.append(
            "cloudtrail: Karpenter node churn (CreateFleet, CreateTags, "
            "TerminateInstances) and on-call read-only calls during the incident"
        )

    # ------------------------------------------------------------------------------ run

    def run(self) -> None:
        segments = [
            _Segment("main", _floor_min(self.bs - 8 * 60), _floor_min(self.we + 8 * 60), True)
        ]
        if self.sc.week_ago:
            wk = 7 * 86400
            segments.append(
                _Segment(
                    "week",
                    _floor_min(self.ws - wk - 5 * 60),
                    _floor_min(self.we - wk + 5 * 60),
                    False,
                )
            )
        for seg in segments:
            self._simulate(seg)
        self._cloudtrail(segments)

    # ------------------------------------------------------------------------------ pods

    def _make_pods(self, seg: _Segment, rng: random.Random) -> None:
        self.pods: dict[str, list[_Pod]] = {s: [] for s in SERVICES}
        self._ready: dict[str, tuple[float, float, list[_Pod]]] = {}
        self.hosts = [
            f"ip-10-0-{16 * (1 + i % 3)}-{rng.randint(10, 250)}.ec2.internal" for i in range(6)
        ]
        week = seg.name == "week"
        for svc in SERVICES.values():
            version = svc.week_ago_version if week else svc.version
            if seg.faults and svc.name == self.benign:
                version = self.benign_prev
            tmpl = self._template_hash(svc.name, version, seg.name)
            for _ in range(svc.replicas):
                self._new_pod(svc, version, tmpl, seg.start - 86400, math.inf, rng)
        if seg.faults:
            for ro in sorted(self.rollouts, key=lambda x: x.at):
                self._apply_rollout(ro, rng)

    def _template_hash(self, service: str, version: str, salt: str) -> str:
        h = hashlib.blake2b(f"{self.key}/{service}/{version}/{salt}".encode(), digest_size=8)
        n = int.from_bytes(h.digest(), "big")
        out = []
        for _ in range(9 + n % 2):
            n, i = divmod(n, len(_K8S_ALPHABET))
            out.append(_K8S_ALPHABET[i])
        return "".join(out)

    def _new_pod(
        self,
        svc: ServiceDef,
        version: str,
        tmpl: str,
        ready_from: float,
        ready_until: float,
        rng: random.Random,
    ) -> _Pod:
        name = f"{svc.name}-{tmpl}-{''.join(rng.choices(_K8S_ALPHABET, k=5))}"
        host = rng.choice(self.hosts)
        subnet = host.split("-")[3]
        ip = f"10.0.{subnet}.{rng.randint(20, 250)}"
        image_repo = "mirror/bitnami/pgbouncer" if svc.name == "pgbouncer" else svc.name
        kube = {
            "pod_name": name,
            "namespace_name": NAMESPACE,
            "pod_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "labels": {
                "app.kubernetes.io/name": svc.name,
                "app.kubernetes.io/version": version,
                "app.kubernetes.io/part-of": "shop",
                "pod-template-hash": tmpl,
            },
            "host": host,
            "pod_ip": ip,
            "container_name": svc.name,
            "docker_id": f"{rng.getrandbits(256):064x}",
            "container_hash": f"{REGISTRY}/{image_repo}@sha256:{_digest(svc.name, version)}",
            "container_image": f"{REGISTRY}/{image_repo}:{version}",
        }
        pod = _Pod(svc, name, ip, version, ready_from, ready_until, rng.uniform(0, 10))
        pod.suffix = b',"kubernetes":' + orjson.dumps(kube) + b"}"
        self.pods[svc.name].append(pod)
        return pod

    def _apply_rollout(self, ro: _Rollout, rng: random.Random) -> None:
        svc = SERVICES[ro.service]
        if ro.reason == "scale-up":
            live = [p for p in self.pods[svc.name] if p.ready_until == math.inf]
            tmpl = live[0].name.split("-")[-2]
            for i in range(ro.count or 1):
                start = ro.at + i * rng.uniform(5, 20)
                pod = self._new_pod(svc, ro.version, tmpl, start + 15, math.inf, rng)
                self.lifecycle.append((pod, start, "start"))
            return
        tmpl = self._template_hash(svc.name, ro.version, "main")
        old = [p for p in self.pods[svc.name] if p.ready_until == math.inf]
        step = rng.uniform(35, 55)
        for i, old_pod in enumerate(old):
            start = ro.at + i * step
            pod = self._new_pod(svc, ro.version, tmpl, start + 25, math.inf, rng)
            old_pod.ready_until = start + 25
            self.lifecycle.append((pod, start, "start"))
            self.lifecycle.append((old_pod, start + 25, "stop"))

    def _pick(self, service: str, t: float) -> _Pod:
        lo, hi, pods = self._ready.get(service, (0.0, -1.0, []))
        if not lo <= t < hi:
            # Pods change rarely (rollouts), so the ready set is cached between changes.
            every = self.pods[service]
            pods = [p for p in every if p.ready_from <= t < p.ready_until]
            lo = max(
                [p.ready_from for p in every if p.ready_from <= t]
                + [p.ready_until for p in every if p.ready_until <= t],
                default=-math.inf,
            )
            hi = min(
                [p.ready_from for p in every if p.ready_from > t]
                + [p.ready_until for p in every if p.ready_until > t],
                default=math.inf,
            )
            self._ready[service] = (lo, hi, pods)
        return pods[int(self.rng.random() * len(pods))] if pods else self.pods[service][-1]

    # ------------------------------------------------------------------------------ emit

    def _base(self, s: int) -> str:
        b = self._sec.get(s)
        if b is None:
            b = self._sec[s] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
        return b

    def _iso_us(self, t: float) -> str:
        s = int(t)
        return f"{self._base(s)}.{int((t - s) * 1e6):06d}Z"

    def _iso_ms(self, t: float) -> str:
        s = int(t)
        return f"{self._base(s)}.{int((t - s) * 1e3):03d}Z"

    def _count(self, service: str, t: float, err: bool, cascade: bool) -> None:
        if self.bs <= t < self.we and self.seg_faults:
            self.stats.lines_in_windows += 1
            if err:
                if t >= self.ws:
                    self.err_inc[service] += 1
                    if cascade:
                        self.cascade[service] += 1
                else:
                    self.err_base[service] += 1

    def _record(self, pod: _Pod, t: float, log: str, stream: bytes = b"stdout") -> None:
        s = int(t)
        us = int((t - s) * 1e6)
        rec = b'{"date":%d.%06d,"time":"%s.%06d%03dZ","stream":"%b","logtag":"F","log":%b%b' % (
            s,
            us,
            self._base(s).encode(),
            us,
            (us * 7) % 1000,
            stream,
            orjson.dumps(log),
            pod.suffix,
        )
        self.app.add(pod.svc.name, t, rec)

    def _log(
        self,
        pod: _Pod,
        t: float,
        level: str,
        msg: str,
        fields: dict | None = None,
        *,
        status: int | None = None,
        cascade: bool = False,
    ) -> None:
        svc = pod.svc
        lang = svc.lang
        if lang == "node":
            d = {"level": level, "time": int(t * 1000), "pid": 1, "hostname": pod.name, "msg": msg}
        elif lang == "go":
            d = {"level": level, "ts": round(t, 6), "caller": "server/log.go:71", "msg": msg}
        elif lang == "python":
            d = {
                "timestamp": self._iso_ms(t),
                "level": _PY_LEVEL[level],
                "logger": f"{svc.name}.app",
                "msg": msg,
            }
        else:
            d = {
                "@timestamp": self._iso_ms(t),
                "level": "WARN" if level == "warn" else level.upper(),
                "thread": f"http-nio-8080-exec-{1 + int(t * 7) % 40}",
                "logger": "c.e.checkout.web.RequestLog",
                "msg": msg,
            }
        if fields:
            d.update(fields)
        if status is not None:
            d["status"] = status
        self._record(pod, t, orjson.dumps(d).decode())
        self._count(
            svc.name, t, level in _ERRORISH or (status is not None and status >= 500), cascade
        )

    def _text(
        self, pod: _Pod, t: float, line: str, err: bool = False, stream: bytes = b"stdout"
    ) -> None:
        self._record(pod, t, line, stream)
        self._count(pod.svc.name, t, err, False)

    def _trace(self) -> dict:
        return {"trace_id": f"{self.rng.getrandbits(128):032x}"}

    def _span(self, trace: dict) -> dict:
        return {"trace_id": trace["trace_id"], "span_id": f"{self.rng.getrandbits(64):016x}"}

    def _ri(self, a: int, b: int) -> int:
        # random.randint costs ~1 µs through randrange; this is a few times cheaper.
        return a + int(self.rng.random() * (b - a + 1))

    def _ln(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    # ------------------------------------------------------------------------------ simulate

    def _simulate(self, seg: _Segment) -> None:
        self.rng = random.Random(f"data/{self.key}/{seg.name}")
        self.np_rng = np.random.default_rng(
            int.from_bytes(hashlib.sha256(f"np/{self.key}/{seg.name}".encode()).digest()[:8], "big")
        )
        self.seg_faults = seg.faults
        self.err_inc: Counter[str] = Counter()
        self.err_base: Counter[str] = Counter()
        self.shed: Counter[tuple[str, int]] = Counter()
        self.lifecycle: list[tuple[_Pod, float, str]] = []
        self.app = _FluentBitWriter(self.sink, self.rng, self.stats.sources["app"], seg.start)
        self.alb = _AlbWriter(self.sink, self.rng, self.stats.sources["alb"])
        self._make_pods(seg, self.rng)
        self._clients = self._make_clients()
        self._emit_one_offs(seg)
        weights = [w for _, w in _MIX]
        kinds = [k for k, _ in _MIX]
        cum = [float(c) for c in np.cumsum(weights) / sum(weights)]
        cum[-1] = 1.0
        level = 0.92 if seg.name == "week" else 1.0  # a week ago was a slightly quieter day
        for m in range(int(seg.start), int(seg.end), 60):
            hour = (m % 86400) / 3600.0
            diurnal = 1.0 + 0.12 * math.sin((hour - 9.0) / 24.0 * 2 * math.pi)
            wobble = math.exp(self.np_rng.normal(0.0, 0.04))
            rate = _BASE_RPM * self.scale * diurnal * wobble * level
            n = int(self.np_rng.poisson(rate))
            reqs = [
                (m + self.rng.random() * 60, kinds[bisect_right(cum, self.rng.random())], None)
                for _ in range(n)
            ]
            if seg.faults and self.storm is not None:
                s0, s1 = self.storm
                lvl = min(1.0, max(0.0, (m + 30 - s0) / 120.0)) if m + 60 > s0 and m < s1 else 0
                extra = int(self.np_rng.poisson(rate * 0.04 * 4.5 * lvl)) if lvl else 0
                reqs += [(m + self.rng.random() * 60, "login", _STORM_UA) for _ in range(extra)]
            reqs.sort(key=lambda x: x[0])
            for t, kind, ua in reqs:
                self._request(t, kind, ua)
            self._periodic(m)
            self.app.flush(m + 60)
            self.alb.flush(m + 60)
        self.app.close()
        self.alb.close()
        if seg.faults:
            for svc in SERVICES:
                self.stats.errors_incident[svc] = self.err_inc[svc]
                self.stats.errors_baseline[svc] = self.err_base[svc]
        self._sec.clear()

    def _make_clients(self) -> list[tuple[str, int, str, str]]:
        out = []
        for _ in range(4000):
            ua, proto = self.rng.choice(_BROWSERS)
            ip = (
                f"{self.rng.choice((24, 31, 46, 51, 67, 73, 81, 92, 98, 176, 185, 203))}."
                f"{self.rng.randint(1, 254)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
            )
            out.append((ip, self.rng.randrange(3), ua, proto))
        return out

    # ------------------------------------------------------------------------------ requests

    def _request(self, t0: float, kind: str, ua: str | None) -> None:
        # Heavy users send more requests: a squared uniform biases towards the head.
        client = self._clients[int(len(self._clients) * self.rng.random() ** 2)]
        if ua is not None:
            client = (client[0], client[1], ua, "https")
        trace_root = f"Root=1-{int(t0):08x}-{self.rng.getrandbits(96):024x}"
        trace = self._trace()
        rq = self.rng.uniform(0.0, 0.002)
        t_in = t0 + rq
        method = "GET"
        if kind == "static":
            target = self._pick("frontend", t_in)
            path = "/static/" + self.rng.choice(_STATIC)
            status = 304 if self.rng.random() < 0.18 else 200
            ms = self._ln(2.5, 0.5)
            sent = 180 if status == 304 else self._ri(2_000, 240_000)
            self._alb_line(
                t0, rq, ms, client, "frontend", target, status, status, method, path, sent
            )
            return
        if kind == "search":
            path = f"/api/search?q={self.rng.choice(_TERMS)}&page={1 + int(self.rng.random() ** 3 * 5)}"
            r, target = self._search(t_in, trace, path, client[0])
            self._alb_line(
                t0,
                rq,
                r.ms,
                client,
                "search",
                target,
                r.status,
                r.status,
                method,
                path,
                self._ri(900, 14_000),
            )
            return
        if kind == "login":
            method, path = "POST", "/oauth/token"
            r, target, refused = self._auth(t_in, trace, "token", from_alb=True)
            if refused:
                self._alb_line(t0, rq, -1, client, "auth", target, 502, None, method, path, 272)
            elif r.ms > 5000 and client[2].startswith("ShopApp"):
                self._alb_line(
                    t0, rq, -1, client, "auth", target, 460, None, method, path, 0, give_up=5.0
                )
            else:
                self._alb_line(
                    t0,
                    rq,
                    r.ms,
                    client,
                    "auth",
                    target,
                    r.status,
                    r.status,
                    method,
                    path,
                    1_650 if r.status == 200 else 310,
                )
            return
        r, target, path, method = self._frontend(t_in, kind, trace, trace_root, client)
        x = self.rng.random()
        if (r.ms > 10_000 and client[3] == "https") or x < 0.001:
            # The client gave up (apps time out after 10 s; browsers navigate away).
            self._alb_line(
                t0,
                rq,
                -1,
                client,
                "frontend",
                target,
                460,
                None,
                method,
                path,
                0,
                give_up=min(r.ms / 1000, 10.0) * self.rng.uniform(0.3, 1.0),
            )
            return
        if x > 0.9998:
            # Keep-alive race with Node's 5 s server timeout: the ALB gets a reset.
            self._alb_line(t0, rq, -1, client, "frontend", target, 502, None, method, path, 272)
            return
        sent = self._ri(14_000, 62_000) if r.status == 200 else self._ri(300, 900)
        self._alb_line(
            t0,
            rq,
            r.ms,
            client,
            "frontend",
            target,
            r.status,
            r.status,
            method,
            path,
            sent,
            trace_root=trace_root,
        )

    def _alb_line(
        self,
        t0: float,
        rq: float,
        ms: float,
        client: tuple,
        tg: str,
        target: _Pod | None,
        elb_status: int,
        tgt_status: int | None,
        method: str,
        path: str,
        sent: int,
        *,
        trace_root: str | None = None,
        give_up: float | None = None,
    ) -> None:
        ip, node, ua, proto = client
        if give_up is not None:
            t_resp = t0 + give_up + self.rng.random() * 0.5
            tgt_t = resp_t = "-1"
        elif ms < 0:
            t_resp = t0 + rq + self.rng.uniform(0.0005, 0.003)
            tgt_t = resp_t = "-1"
        else:
            t_resp = t0 + rq + ms / 1000.0 + 0.0004
            tgt_t, resp_t = f"{ms / 1000.0:.3f}", "0.000"
        tgt = f"{target.ip}:{target.svc.port}" if target is not None else "-"
        tst = str(tgt_status) if tgt_status is not None else "-"
        if proto == "h2":
            typ, ver, cipher, tls = "h2", "HTTP/2.0", "TLS_AES_128_GCM_SHA256", "TLSv1.3"
        else:
            typ, ver, cipher, tls = "https", "HTTP/1.1", "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"
        root = trace_root or f"Root=1-{int(t0):08x}-{self.rng.getrandbits(96):024x}"
        line = (
            f"{typ} {self._iso_us(t_resp)} app/{LB_NAME}/{LB_ID} {ip}:{self._ri(1024, 65535)} "
            f"{tgt} {rq:.3f} {tgt_t} {resp_t} {elb_status} {tst} {self._ri(280, 1400)} "
            f'{sent} "{method} https://{DOMAIN}:443{path} {ver}" "{ua}" {cipher} {tls} '
            f'{TARGET_GROUPS[tg]} "{root}" "{DOMAIN}" "{_CERT_ARN}" {_RULE_PRIORITY[tg]} '
            f'{self._iso_us(t0)} "forward" "-" "-" "{tgt}" "{tst}" "-" "-" '
            f"TID_{self.rng.getrandbits(128):032x}"
        )
        self.alb.add(node, t_resp, line.encode())
        if self.bs <= t_resp < self.we and self.seg_faults:
            self.stats.lines_in_windows += 1

    # ------------------------------------------------------------------------------ services

    def _fault_level(self, service: str, t: float) -> float:
        f = self.fault
        if f is None or f.service != service or not self.seg_faults:
            return 0.0
        return f.level(t)

    def _upstream_failed(
        self,
        pod: _Pod,
        t: float,
        dep: str,
        method: str,
        path: str,
        c: _Call,
        timeout_ms: int,
        trace: dict,
        *,
        final: bool = True,
        optional: bool = False,
    ) -> None:
        """The caller's own words for a failed call; callers name the service they called."""
        svc = SERVICES[dep]
        host = f"{dep}.{NAMESPACE}.svc.cluster.local:{svc.port}"
        level = "warn" if (optional or not final) else "error"
        f = self._span(trace) | {"upstream": dep}
        lang = pod.svc.lang
        if c.timed_out:
            msg = f"timeout calling {host} after {timeout_ms}ms"
            if lang == "java":
                msg = f"Call to {dep} failed: {msg}"
                f["logger"] = "c.e.checkout.client.UpstreamClient"
                f["stack_trace"] = _TIMEOUT_JAVA.format(m=method, dep=dep, port=svc.port, path=path)
            elif lang == "node":
                f["err"] = {"type": "TimeoutError", "code": "UND_ERR_HEADERS_TIMEOUT"}
        else:
            if lang == "java":
                msg = f"Call to {dep} failed: {c.status} on {method} {path}"
                f["logger"] = "c.e.checkout.client.UpstreamClient"
            else:
                msg = f"upstream {dep} responded {c.status} to {method} {path}"
            f["upstream_status"] = c.status
        if not final:
            msg += ", retrying"
        self._log(pod, t, level, msg, f, cascade=c.fault)

    def _call(
        self,
        pod: _Pod,
        t: float,
        dep: str,
        method: str,
        path: str,
        timeout_ms: int,
        retries: int,
        trace: dict,
        fn,
        *,
        optional: bool = False,
    ) -> _Call:
        elapsed = 0.0
        for attempt in range(retries + 1):
            r = fn(t + elapsed / 1000.0)
            if r.ms > timeout_ms:
                elapsed += timeout_ms
                c = _Call(False, 504, elapsed, r.fault, True)
                last = attempt == retries
                self._upstream_failed(
                    pod,
                    t + elapsed / 1000.0,
                    dep,
                    method,
                    path,
                    c,
                    timeout_ms,
                    trace,
                    final=last,
                    optional=optional,
                )
                if last:
                    return c
                continue
            elapsed += r.ms
            if r.status >= 500:
                c = _Call(False, r.status, elapsed, r.fault, False)
                self._upstream_failed(
                    pod,
                    t + elapsed / 1000.0,
                    dep,
                    method,
                    path,
                    c,
                    timeout_ms,
                    trace,
                    optional=optional,
                )
                return c
            return _Call(True, r.status, elapsed, False, False)
        raise AssertionError("unreachable")

    # frontend ---------------------------------------------------------------------------

    def _frontend(self, t: float, kind: str, trace: dict, trace_root: str, client: tuple):
        pod = self._pick("frontend", t)
        rng = self.rng
        method = "GET"
        if kind == "home":
            path = "/"
        elif kind == "product":
            path = f"/products/{self._ri(10000, 99999)}"
        elif kind == "category":
            path = f"/c/{rng.choice(_CATEGORIES)}?page={1 + int(rng.random() ** 2 * 6)}"
        elif kind == "cart":
            method, path = ("POST", "/api/cart/items") if rng.random() < 0.4 else ("GET", "/cart")
        elif kind == "checkout":
            method, path = "POST", "/api/checkout"
        else:
            path = "/account/orders"
        required_auth = kind in ("cart", "checkout", "account")
        logged_in = required_auth or rng.random() < 0.55
        ms = self._ln(9.0, 0.4)
        fail: _Call | None = None
        failed_dep = ""
        if logged_in:
            # A failed session check is logged as an error even where the page can fall back
            # to anonymous: nobody should be logged out silently.
            c = self._call(
                pod,
                t + ms / 1000,
                "auth",
                "POST",
                "/v1/sessions/validate",
                800,
                0,
                trace,
                lambda tt: self._auth(tt, trace, "validate")[0],
            )
            ms += c.ms
            if not c.ok and required_auth:
                fail, failed_dep = c, "auth"
        if fail is None and kind in ("product", "category", "cart"):
            batch = kind == "category"
            c = self._call(
                pod,
                t + ms / 1000,
                "inventory",
                "GET",
                "/v1/stock" if batch else f"/v1/stock/{self._ri(10000, 99999)}",
                1500,
                1,
                trace,
                lambda tt: self._inventory(tt, trace, "stock"),
            )
            ms += c.ms
            if not c.ok:
                fail, failed_dep = c, "inventory"
        if fail is None and kind in ("home", "product"):
            c = self._call(
                pod,
                t + ms / 1000,
                "recommendations",
                "GET",
                "/v1/recs",
                300,
                0,
                trace,
                lambda tt: self._recs(tt, trace),
                optional=True,
            )
            ms += c.ms
        if fail is None and kind == "checkout":
            c = self._call(
                pod,
                t + ms / 1000,
                "checkout",
                "POST",
                "/v1/orders",
                8000,
                0,
                trace,
                lambda tt: self._checkout(tt, trace, "create"),
            )
            ms += c.ms
            if not c.ok:
                fail, failed_dep = c, "checkout"
        if fail is None and kind == "account":
            c = self._call(
                pod,
                t + ms / 1000,
                "checkout",
                "GET",
                "/v1/orders",
                3000,
                0,
                trace,
                lambda tt: self._checkout(tt, trace, "list"),
            )
            ms += c.ms
            if not c.ok:
                fail, failed_dep = c, "checkout"
        ms += self._ln(6.0, 0.5)
        t_end = t + ms / 1000
        f = self._span(trace) | {"amzn_trace_id": trace_root, "method": method, "path": path}
        if fail is not None:
            status = 504 if fail.timed_out else 502
            self._log(
                pod,
                t_end - 0.001,
                "error",
                f"SSR render failed for {path.split('?')[0]}: UpstreamError: {failed_dep} "
                "unavailable",
                self._span(trace) | {"upstream": failed_dep},
                cascade=fail.fault,
            )
            self._log(
                pod,
                t_end,
                "error",
                "request errored",
                f | {"latency_ms": round(ms, 1)},
                status=status,
                cascade=fail.fault,
            )
            return _Resp(status, ms, fail.fault), pod, path, method
        if rng.random() < 0.0015:  # a long-standing bug on product cards, in every window
            self._log(
                pod,
                t_end,
                "error",
                "TypeError: Cannot read properties of undefined (reading 'imageUrl')",
                self._span(trace) | {"component": "ProductCard"},
            )
            self._log(
                pod, t_end, "error", "request errored", f | {"latency_ms": round(ms, 1)}, status=500
            )
            return _Resp(500, ms), pod, path, method
        self._log(
            pod, t_end, "info", "request completed", f | {"latency_ms": round(ms, 1)}, status=200
        )
        return _Resp(200, ms), pod, path, method

    # auth -------------------------------------------------------------------------------

    def _auth(self, t: float, trace: dict, endpoint: str, *, from_alb: bool = False):
        """Returns (response, pod, connection_refused)."""
        pod = self._pick("auth", t)
        rng = self.rng
        lvl = self._fault_level("auth", t)
        kind = self.fault.kind if lvl else ""
        path = {
            "validate": "/v1/sessions/validate",
            "introspect": "/v1/introspect",
            "token": "/oauth/token",
        }[endpoint]
        ms = self._ln(3.0, 0.35)
        if kind == "shed":
            if rng.random() < lvl * self.fault.p:
                # Rejected before the logging middleware: only the periodic summary says so.
                self.shed[(pod.name, int(t // 10))] += 1
                refused = from_alb and rng.random() < 0.25
                return _Resp(503, self._ln(1.0, 0.3), True), pod, refused
            ms += lvl * self._ln(300.0, 0.6)
        f = self._span(trace) | {"method": "POST", "path": path}
        if kind == "slow":
            redis_ms = lvl * self._ln(650.0, 0.7)
            ms += redis_ms
            if redis_ms > 3000:
                ms = 3000 + self._ln(3.0, 0.3)
                self._log(
                    pod,
                    t + ms / 1000,
                    "error",
                    f"failed to load session: read tcp {pod.ip}:{self._ri(30000, 60000)}"
                    "->10.0.48.9:6379: i/o timeout",
                    f | {"latency_ms": round(ms, 1)},
                    status=500,
                )
                return _Resp(500, ms, True), pod, False
            if redis_ms > 250 and rng.random() < 0.25:
                self._log(
                    pod,
                    t + ms / 1000,
                    "warn",
                    "slow redis command",
                    self._span(trace) | {"cmd": "GET", "duration_ms": round(redis_ms, 1)},
                )
        if (
            kind == "config"
            and endpoint != "token"
            and t >= self.fault.pod_start.get(pod.name, math.inf)
        ):
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "token validation failed",
                f | {"error": _OIDC, "latency_ms": round(ms, 1)},
                status=500,
            )
            return _Resp(500, ms, True), pod, False
        status = 200
        if endpoint == "token":
            ms += self._ln(38.0, 0.25)  # bcrypt
            if rng.random() < 0.07:
                status = 401
                self._log(
                    pod,
                    t + ms / 1000,
                    "warn",
                    "invalid_grant: bad credentials",
                    self._span(trace) | {"client_id": "web"},
                )
        self._log(
            pod,
            t + ms / 1000,
            "info" if status < 400 else "warn",
            "request completed",
            f | {"latency_ms": round(ms, 1)},
            status=status,
        )
        # A slow answer caused by the fault is the fault's doing when the caller times out.
        return _Resp(status, ms, kind in ("slow", "shed")), pod, False

    # inventory --------------------------------------------------------------------------

    def _inventory(self, t: float, trace: dict, endpoint: str) -> _Resp:
        pod = self._pick("inventory", t)
        rng = self.rng
        lvl = self._fault_level("inventory", t)
        kind = self.fault.kind if lvl else ""
        method, path = {
            "stock": ("GET", "/v1/stock"),
            "reserve": ("POST", "/v1/reservations"),
            "release": ("DELETE", "/v1/reservations"),
        }[endpoint]
        ms = self._ln(7.0, 0.4)
        f = self._span(trace) | {"method": method, "path": path}
        client = f"10.0.{16 * self._ri(1, 3)}.{self._ri(20, 250)}:{self._ri(30000, 60000)}"
        if kind == "bug" and pod.version == self.fault.version and endpoint != "release":
            p = self.fault.p if endpoint == "reserve" else 0.12
            if rng.random() < p:
                ms += self._ln(4.0, 0.3)
                self._log(
                    pod,
                    t + ms / 1000,
                    "error",
                    f"unhandled error in {method} {path}: KeyError: 'warehouse_id'",
                    f | {"exc_info": _KEYERROR},
                )
                self._access_py(pod, t + ms / 1000, client, method, path, 500, ms, f)
                return _Resp(500, ms, True)
        if kind == "pool":
            if rng.random() < lvl * self.fault.p:
                ms = 30000 + self._ln(5.0, 0.3)
                # Callers gave up long before; most of these requests are cancelled when the
                # client disconnects, and only the rest reach the pool timeout and log it.
                if rng.random() < 0.4:
                    self._log(
                        pod,
                        t + ms / 1000,
                        "error",
                        _QUEUEPOOL,
                        f | {"exc_type": "sqlalchemy.exc.TimeoutError"},
                    )
                    self._access_py(pod, t + ms / 1000, client, method, path, 503, ms, f)
                return _Resp(503, ms, True)
            ms += lvl * self._ln(900.0, 0.7)
        if endpoint == "stock" and rng.random() < 0.002:
            self._log(
                pod,
                t + ms / 1000,
                "warn",
                "deadlock detected, retrying transaction (attempt 1/3)",
                f,
            )
        self._access_py(
            pod, t + ms / 1000, client, method, path, 201 if endpoint == "reserve" else 200, ms, f
        )
        return _Resp(200, ms, kind == "pool")

    def _access_py(
        self,
        pod: _Pod,
        t: float,
        client: str,
        method: str,
        path: str,
        status: int,
        ms: float,
        f: dict,
    ) -> None:
        self._log(
            pod,
            t,
            "info",
            f'{client} - "{method} {path} HTTP/1.1" {status}',
            {
                "trace_id": f["trace_id"],
                "span_id": f["span_id"],
                "latency_ms": round(ms, 1),
                "logger": "uvicorn.access",
            },
            status=status,
        )

    # recommendations / search -----------------------------------------------------------

    def _red_herring(self, service: str, t: float) -> bool:
        rh = self.red_herring
        return bool(self.seg_faults and rh and rh[0] == service and rh[1] <= t < rh[2])

    def _recs(self, t: float, trace: dict) -> _Resp:
        pod = self._pick("recommendations", t)
        ms = self._ln(22.0, 0.5)
        f = self._span(trace) | {"method": "GET", "path": "/v1/recs"}
        if self.rng.random() < 0.01:
            self._log(
                pod,
                t + ms / 1000,
                "warn",
                "feature store lookup timed out after 50ms; using popularity fallback",
                f,
            )
        if self._red_herring("recommendations", t) and self.rng.random() < 0.15:
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "model snapshot reload failed, serving stale model: ReadTimeoutError: Read "
                'timeout on endpoint URL: "https://ml-artifacts-prod.s3.amazonaws.com/recs/'
                'snapshots/latest.npz"',
                f,
            )
        client = f"10.0.{16 * self._ri(1, 3)}.{self._ri(20, 250)}:{self._ri(30000, 60000)}"
        self._access_py(pod, t + ms / 1000, client, "GET", "/v1/recs", 200, ms, f)
        return _Resp(200, ms)

    def _search(self, t: float, trace: dict, path: str, client_ip: str):
        pod = self._pick("search", t)
        rng = self.rng
        ms = self._ln(35.0, 0.5)
        f = self._span(trace) | {"method": "GET", "path": path.split("?")[0]}
        client = f"{client_ip}:{self._ri(30000, 60000)}"
        status = 200
        if rng.random() < 0.006:
            ms = 1000 + self._ln(4.0, 0.3)
            status = 503
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "opensearch query failed: ConnectionTimeout caused by ReadTimeoutError("
                "HTTPConnectionPool(host='search-os.prod.svc.cluster.local', port=9200): "
                "Read timed out. (read timeout=1.0))",
                f,
            )
        elif self._red_herring("search", t) and rng.random() < 0.12:
            status = 503
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "search backend error: es_rejected_execution_exception: rejected execution "
                "of coordinating operation on QueueResizingEsThreadPoolExecutor[name = "
                "search-os-data-1/search, queue capacity = 1000]",
                f,
            )
        elif ms > 400 and rng.random() < 0.5:
            self._log(pod, t + ms / 1000, "warn", f"slow opensearch query took {int(ms)}ms", f)
        self._access_py(pod, t + ms / 1000, client, "GET", path, status, ms, f)
        return _Resp(status, ms), pod

    # checkout ---------------------------------------------------------------------------

    def _checkout(self, t: float, trace: dict, endpoint: str) -> _Resp:
        pod = self._pick("checkout", t)
        rng = self.rng
        lvl = self._fault_level("checkout", t)
        kind = self.fault.kind if lvl else ""
        method, path = ("POST", "/v1/orders") if endpoint == "create" else ("GET", "/v1/orders")
        f = self._span(trace)
        ms = self._ln(12.0, 0.35)
        if kind == "pool" and rng.random() < lvl * self.fault.p:
            # Tomcat threads are not cancelled when the caller gives up: every one of these
            # waits the full 30 s and logs.
            ms = 30000 + self._ln(8.0, 0.3)
            self._log(
                pod,
                t + ms / 1000,
                "error",
                _HIKARI.format(w=self._ri(25, 60)),
                f
                | {
                    "logger": "c.e.checkout.web.GlobalExceptionHandler",
                    "stack_trace": "org.springframework.transaction."
                    "CannotCreateTransactionException: Could not open JPA EntityManager "
                    "for transaction\nCaused by: java.sql.SQLTransientConnectionException: "
                    + _HIKARI.format(w=self._ri(25, 60)),
                },
            )
            self._access_java(pod, t + ms / 1000, method, path, 500, ms, f)
            return _Resp(500, ms, True)
        if kind == "pool":
            ms += lvl * self._ln(1500.0, 0.7)
        if endpoint == "list":
            ms += self._ln(15.0, 0.4)
            self._access_java(pod, t + ms / 1000, method, path, 200, ms, f)
            return _Resp(200, ms, kind == "pool")
        c = self._call(
            pod,
            t + ms / 1000,
            "auth",
            "POST",
            "/v1/introspect",
            1000,
            0,
            trace,
            lambda tt: self._auth(tt, trace, "introspect")[0],
        )
        ms += c.ms
        failed = None if c.ok else ("auth", c)
        order = f"ord_{rng.getrandbits(40):010x}"
        if failed is None:
            self._log(
                pod,
                t + ms / 1000,
                "info",
                f"Creating order {order} for cart crt_{rng.getrandbits(32):08x} "
                f"({self._ri(1, 6)} items)",
                f | {"logger": "c.e.checkout.service.OrderService"},
            )
            c = self._call(
                pod,
                t + ms / 1000,
                "inventory",
                "POST",
                "/v1/reservations",
                2000,
                0,
                trace,
                lambda tt: self._inventory(tt, trace, "reserve"),
            )
            ms += c.ms
            if not c.ok:
                failed = ("inventory", c)
        if (
            failed is None
            and kind == "bug"
            and pod.version == self.fault.version
            and rng.random() < self.fault.p
        ):
            ms += self._ln(3.0, 0.3)
            self._log(
                pod,
                t + ms / 1000,
                "error",
                f"Unhandled exception processing {method} {path}",
                f | {"logger": "c.e.checkout.web.GlobalExceptionHandler", "stack_trace": _NPE},
            )
            self._access_java(pod, t + ms / 1000, method, path, 500, ms, f)
            return _Resp(500, ms, True)
        if failed is None:
            c = self._call(
                pod,
                t + ms / 1000,
                "payments",
                "POST",
                "/v1/charges",
                3000,
                1,
                trace,
                lambda tt: self._payments(tt, trace),
            )
            ms += c.ms
            if not c.ok:
                failed = ("payments", c)
                self._inventory(t + ms / 1000, trace, "release")  # compensate the reservation
        if failed is not None:
            dep, fc = failed
            status = 504 if fc.timed_out else 502
            self._log(
                pod,
                t + ms / 1000,
                "error",
                f"Checkout failed for order {order}: {dep} unavailable",
                f | {"logger": "c.e.checkout.service.OrderService", "upstream": dep},
                cascade=fc.fault,
            )
            self._access_java(pod, t + ms / 1000, method, path, status, ms, f, cascade=fc.fault)
            return _Resp(status, ms, fc.fault)
        if c.status == 402:
            self._access_java(pod, t + ms / 1000, method, path, 402, ms, f)
            return _Resp(402, ms, kind == "pool")
        self._log(
            pod,
            t + ms / 1000,
            "info",
            f"Order {order} placed (total={self._ri(15, 400)}.{self._ri(0, 99):02d} EUR)",
            f | {"logger": "c.e.checkout.service.OrderService"},
        )
        self._access_java(pod, t + ms / 1000, method, path, 201, ms, f)
        return _Resp(201, ms, kind == "pool")

    def _access_java(
        self,
        pod: _Pod,
        t: float,
        method: str,
        path: str,
        status: int,
        ms: float,
        f: dict,
        *,
        cascade: bool = False,
    ) -> None:
        self._log(
            pod,
            t,
            "info",
            f"{method} {path} {status} {int(ms)}ms",
            f | {"logger": "c.e.checkout.web.AccessLog", "latency_ms": round(ms, 1)},
            status=status,
            cascade=cascade,
        )

    # payments ---------------------------------------------------------------------------

    def _payments(self, t: float, trace: dict) -> _Resp:
        pod = self._pick("payments", t)
        rng = self.rng
        lvl = self._fault_level("payments", t)
        kind = self.fault.kind if lvl else ""
        ms = self._ln(9.0, 0.3)
        f = self._span(trace) | {"method": "POST", "path": "/v1/charges"}
        if kind == "bug" and pod.version == self.fault.version and rng.random() < self.fault.p:
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "panic recovered: runtime error: invalid memory address or nil pointer dereference",
                f
                | {
                    "stacktrace": _GO_PANIC.format(g=self._ri(1000, 90000)),
                    "caller": "server/recover.go:34",
                },
            )
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "request completed",
                f | {"latency_ms": round(ms, 1)},
                status=500,
            )
            return _Resp(500, ms, True)
        if kind == "config" and t >= self.fault.pod_start.get(pod.name, math.inf):
            ms += self._ln(60.0, 0.3)
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "psp rejected request: 401 Unauthorized: invalid_api_key (live key used "
                "against https://sandbox.psp.example-pay.com)",
                f | {"caller": "psp/client.go:118"},
            )
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "request completed",
                f | {"latency_ms": round(ms, 1)},
                status=502,
            )
            return _Resp(502, ms, True)
        psp = self._ln(180.0, 0.35)
        slowed = kind == "slow" and rng.random() < 0.4 + 0.6 * lvl
        if slowed:
            psp += lvl * self._ln(4200.0, 0.45)
        if psp > 10_000:
            ms += 10_000
            self._log(
                pod,
                t + ms / 1000,
                "error",
                'psp request failed: Post "https://api.psp.example-pay.com/v2/charges": '
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                f | {"caller": "psp/client.go:131"},
            )
            self._log(
                pod,
                t + ms / 1000,
                "error",
                "request completed",
                f | {"latency_ms": round(ms, 1)},
                status=502,
            )
            return _Resp(502, ms, slowed)
        ms += psp
        if psp > 2000:
            self._log(
                pod,
                t + ms / 1000,
                "warn",
                "slow psp response",
                f | {"psp_ms": round(psp, 1), "caller": "psp/client.go:140"},
            )
        if rng.random() < 0.035:
            self._log(
                pod,
                t + ms / 1000,
                "warn",
                "charge declined: card_declined (insufficient_funds)",
                f | {"caller": "charge/service.go:171"},
            )
            self._log(
                pod,
                t + ms / 1000,
                "warn",
                "request completed",
                f | {"latency_ms": round(ms, 1)},
                status=402,
            )
            return _Resp(402, ms, slowed)
        self._log(
            pod,
            t + ms / 1000,
            "info",
            "charge authorized",
            f | {"psp_ref": f"ch_{rng.getrandbits(64):016x}", "caller": "charge/service.go:166"},
        )
        self._log(
            pod,
            t + ms / 1000,
            "info",
            "request completed",
            f | {"latency_ms": round(ms, 1)},
            status=201,
        )
        return _Resp(201, ms, slowed)

    # ------------------------------------------------------------------------------ periodic

    def _periodic(self, m: int) -> None:
        """Once per simulated minute: probes, pool stats, jobs, summaries."""
        rng = self.rng
        for name, pods in self.pods.items():
            svc = SERVICES[name]
            for pod in pods:
                if not (pod.ready_from < m + 60 and pod.ready_until > m):
                    continue
                if svc.probes_logged:
                    for k in range(6):
                        t = m + k * 10 + pod.probe_offset
                        if not (pod.ready_from <= t < pod.ready_until):
                            continue
                        for probe in ("/healthz", "/readyz"):
                            tt = t + rng.random() * 0.01
                            if svc.lang == "go":
                                self._log(
                                    pod,
                                    tt,
                                    "info",
                                    "request completed",
                                    {
                                        "method": "GET",
                                        "path": probe,
                                        "latency_ms": 0.2,
                                        "user_agent": "kube-probe/1.31",
                                    },
                                    status=200,
                                )
                            else:
                                self._log(
                                    pod,
                                    tt,
                                    "info",
                                    f"10.0.{pod.ip.split('.')[2]}.1:{self._ri(30000, 60000)}"
                                    f' - "GET {probe} HTTP/1.1" 200',
                                    {"latency_ms": 0.9, "logger": "uvicorn.access"},
                                    status=200,
                                )
                if name == "checkout":
                    lvl = self._fault_level("checkout", m)
                    for k in (0, 30):
                        t = m + k + rng.random()
                        if self.fault and self.fault.kind == "pool" and lvl > 0:
                            stats = f"total=10, active=10, idle=0, waiting={int(lvl * 40)}"
                        else:
                            a = self._ri(0, 3)
                            stats = f"total=10, active={a}, idle={10 - a}, waiting=0"
                        self._log(
                            pod,
                            t,
                            "debug",
                            f"HikariPool-1 - Pool stats ({stats})",
                            {
                                "logger": "com.zaxxer.hikari.pool.HikariPool",
                                "thread": "HikariPool-1 housekeeper",
                            },
                        )
                if name == "pgbouncer":
                    self._pgbouncer_stats(pod, m + 59.5 + rng.random() * 0.4)
                if name == "auth":
                    for k in range(6):
                        n = self.shed.pop((pod.name, m // 10 + k), 0)
                        if n:
                            self._log(
                                pod,
                                m + k * 10 + 9.9,
                                "warn",
                                f"load shedding active: rejected {n} requests in the last 10s",
                                {
                                    "max_inflight": 256,
                                    "inflight": 256,
                                    "caller": "server/limit.go:52",
                                },
                            )
        # One-pod jobs: whichever pod holds the lease.
        inv = self._pick("inventory", m + 30)
        self._log(
            inv,
            m + 30 + rng.random(),
            "info",
            f"stock sync completed: {self._ri(800, 1600)} skus updated",
            {"logger": "inventory.sync", "duration_ms": round(self._ln(800, 0.3), 1)},
        )
        if m % 420 == 0:
            recs = self._pick("recommendations", m + 5)
            self._log(
                recs,
                m + 5 + rng.random(),
                "error",
                "failed to refresh embeddings index: An error occurred (AccessDenied) when "
                "calling the GetObject operation: Access Denied",
                {
                    "logger": "recommendations.refresh",
                    "key": "s3://ml-artifacts-prod/recs/embeddings/v2/index.faiss",
                },
            )
        if m % 300 == 0:
            for pod in self.pods["auth"]:
                if pod.ready_from <= m < pod.ready_until:
                    self._log(
                        pod,
                        m + 2 + rng.random(),
                        "info",
                        "refreshed JWKS (3 keys)",
                        {"caller": "oidc/jwks.go:88"},
                    )
        if self.fault and self.fault.kind == "pool" and self.seg_faults:
            lvl = self.fault.level(m)
            if lvl > 0:
                pod = self._pick(self.root, m)
                for _ in range(int(3 + lvl * 6)):
                    t = m + rng.random() * 60
                    ms = self._ln(9000.0, 0.4)
                    if self.root == "inventory":
                        self._log(
                            pod,
                            t,
                            "warn",
                            f"slow query ({int(ms)} ms): UPDATE stock_levels SET on_hand = "
                            "$1, updated_at = now() WHERE sku = $2",
                            {"logger": "inventory.db"},
                        )
                    else:
                        self._log(
                            pod,
                            t,
                            "warn",
                            f"SlowQuery: {int(ms)} milliseconds. SQL: 'select o.id, "
                            "o.total, i.sku from orders o join order_items i on ...'",
                            {"logger": "org.hibernate.SQL_SLOW"},
                        )
        rh = self.red_herring
        if self.seg_faults and rh and rh[0] == "search" and rh[1] <= m + 60 and m <= rh[1]:
            pod = self._pick("search", rh[1])
            self._log(
                pod,
                rh[1],
                "warn",
                "opensearch cluster health changed from GREEN to YELLOW (2 unassigned shards)",
                {"logger": "search.health"},
            )

    def _pgbouncer_stats(self, pod: _Pod, t: float) -> None:
        rng = self.rng
        f = self.fault
        lvl = self._fault_level(f.service, t) if f is not None and f.kind == "pool" else 0.0
        xact = int(self._ln(1500, 0.2) + lvl * self._ln(2_800_000, 0.3))
        wait = int(self._ln(12, 0.4) + lvl * self._ln(450_000, 0.4))
        x = int(self._ln(410, 0.1) * self.scale)
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d} UTC"
        self._text(
            pod,
            t,
            f"{ts} [1] LOG stats: {x} xacts/s, {x * 3} queries/s, 0 client "
            f"parses/s, 0 server parses/s, 0 binds/s, in {x * 370} B/s, out "
            f"{x * 2110} B/s, xact {xact} us, query {int(xact / 3)} us, wait {wait} us",
        )
        if rng.random() < 0.3:
            self._text(
                pod,
                t + 0.2,
                f"{ts} [1] LOG C-0x55d1{rng.getrandbits(24):06x}: "
                f"inventory/inventory_app@10.0.32.{self._ri(20, 250)}:"
                f"{self._ri(30000, 60000)} closing because: client close request "
                f"(age={self._ri(300, 3600)}s)",
            )

    def _emit_one_offs(self, seg: _Segment) -> None:
        """Pod starts and stops, config reloads and job markers, at their own times."""
        rng = self.rng
        if seg.faults and self.fault is not None and self.fault.kind == "config":
            first, spread, end = self.config_reload
            param, old_v = self.config_param
            live = [p for p in self.pods[self.root] if p.ready_from <= first < p.ready_until]
            for i, pod in enumerate(live):
                at = first if i == 0 else first + rng.uniform(20, max(spread, 30))
                self.fault.pod_start[pod.name] = at
                for when, ver in ((at, old_v + 1), (end + rng.uniform(0, 60), old_v + 2)):
                    self._log(
                        pod,
                        when,
                        "info",
                        "configuration reloaded",
                        {"source": f"ssm:{param}", "version": ver, "caller": "config/watch.go:77"},
                    )
        if seg.faults:
            for svc, t, level, msg, fields in self.trigger_lines:
                self._log(self._pick(svc, t), t, level, msg, fields)
        for pod, t, what in self.lifecycle:
            svc = pod.svc
            if what == "stop":
                msg = {
                    "node": "SIGTERM received, draining connections",
                    "java": "Commencing graceful shutdown. Waiting for active requests to complete",
                    "go": "shutting down: received signal terminated",
                    "python": "Shutting down",
                    "text": "got SIGTERM, fast exit",
                }[svc.lang]
                if svc.lang == "text":
                    self._text(pod, t, msg)
                else:
                    self._log(pod, t, "info", msg)
                continue
            banner = f"Starting {svc.name} version {pod.version}"
            if svc.lang == "java":
                self._text(pod, t, "  .   ____          _            __ _ _")
                self._log(
                    pod,
                    t + 0.4,
                    "info",
                    banner + " using Java 21.0.5 with PID 1",
                    {"logger": "c.e.checkout.CheckoutApplication", "thread": "main"},
                )
                self._log(
                    pod,
                    t + 14.2,
                    "info",
                    "Tomcat started on port 8080 (http) with context path '/'",
                    {"logger": "o.s.b.w.e.tomcat.TomcatWebServer", "thread": "main"},
                )
                self._log(
                    pod,
                    t + 14.3,
                    "info",
                    "Started CheckoutApplication in 14.1 seconds (process running for 14.9)",
                    {"logger": "c.e.checkout.CheckoutApplication", "thread": "main"},
                )
            elif svc.lang == "go":
                self._log(
                    pod,
                    t + 0.2,
                    "info",
                    banner,
                    {"commit": _digest(svc.name, pod.version)[:7], "go": "go1.23.4"},
                )
                self._log(pod, t + 0.5, "info", f"listening on :{svc.port}")
            elif svc.lang == "python":
                self._log(pod, t + 0.8, "info", banner, {"logger": f"{svc.name}.main"})
                self._log(
                    pod,
                    t + 1.9,
                    "info",
                    f"Uvicorn running on http://0.0.0.0:{svc.port} (Press CTRL+C to quit)",
                    {"logger": "uvicorn.error"},
                )
            elif svc.lang == "node":
                self._log(pod, t + 0.6, "info", banner, {"node": "v22.11.0"})
                self._log(pod, t + 1.1, "info", f"server listening on 0.0.0.0:{svc.port}")
            else:
                self._text(
                    pod,
                    t,
                    f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(t))}.000 "
                    f"UTC [1] LOG kernel file descriptor limit: 1048576",
                )

    # ------------------------------------------------------------------------------ CloudTrail

    def _identity(self, role: str, session: str, *, human: bool = False) -> dict:
        rid = hashlib.blake2b(role.encode(), digest_size=8).hexdigest().upper()
        return {
            "type": "AssumedRole",
            "principalId": f"AROA{rid[:17]}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}",
            "accountId": ACCOUNT_ID,
            "accessKeyId": "ASIA"
            + hashlib.blake2b(f"{role}/{session}".encode(), digest_size=8).hexdigest().upper(),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROA{rid[:17]}",
                    "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/"
                    + ("aws-reserved/sso.amazonaws.com/" if human else "")
                    + role,
                    "accountId": ACCOUNT_ID,
                    "userName": role,
                },
                "attributes": {
                    "creationDate": "2026-11-24T08:00:00Z",
                    "mfaAuthenticated": "true" if human else "false",
                },
            },
        }

    def _ct(
        self,
        rng: random.Random,
        t: float,
        source: str,
        name: str,
        identity: dict,
        ip: str,
        ua: str,
        req: dict | None,
        resp: dict | None,
        *,
        read_only: bool,
        region: str = REGION,
    ) -> dict:
        return {
            "eventVersion": "1.10",
            "userIdentity": identity,
            "eventTime": _iso_s(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
            "requestParameters": req,
            "responseElements": resp,
            "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT_ID,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com",
            },
        }

    def _ct_put_image(self, rng: random.Random, t: float, service: str, version: str) -> dict:
        digest = "sha256:" + _digest(service, version)
        return self._ct(
            rng,
            t,
            "ecr.amazonaws.com",
            "PutImage",
            self._identity(_CI_ROLE, f"GitHubActions-{rng.randint(10**9, 10**10 - 1)}"),
            "140.82.115.12",
            "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.5.0-1025-azure "
            "md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exec-env/GitHubActions "
            "md/command#ecr.put-image",
            {
                "repositoryName": service,
                "imageTag": version,
                "registryId": ACCOUNT_ID,
                "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
            },
            {
                "image": {
                    "registryId": ACCOUNT_ID,
                    "repositoryName": service,
                    "imageId": {"imageDigest": digest, "imageTag": version},
                    "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
                }
            },
            read_only=False,
        )

    def _ct_put_parameter(
        self, rng: random.Random, t: float, name: str, version: int, who: str
    ) -> dict:
        return self._ct(
            rng,
            t,
            "ssm.amazonaws.com",
            "PutParameter",
            self._identity(_HUMAN_ROLE, who, human=True),
            "203.0.113.24",
            "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 "
            "lang/python#3.12.7 md/pyimpl#CPython md/command#ssm.put-parameter",
            {
                "name": name,
                "type": "String",
                "overwrite": True,
                "value": "HIDDEN_DUE_TO_SECURITY_REASONS",
            },
            {"version": version, "tier": "Standard"},
            read_only=False,
        )

    def _ct_waf_update(self, rng: random.Random, t: float) -> dict:
        return self._ct(
            rng,
            t,
            "wafv2.amazonaws.com",
            "UpdateWebACL",
            self._identity(_SRE_ROLE, "oncall@example.com", human=True),
            "203.0.113.57",
            "AWS Internal",
            {
                "name": "shop-prod-edge",
                "scope": "REGIONAL",
                "id": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                "rules": [
                    {
                        "name": "rate-limit-oauth-token",
                        "priority": 1,
                        "action": {"block": {}},
                        "statement": {
                            "rateBasedStatement": {"limit": 300, "aggregateKeyType": "IP"}
                        },
                    }
                ],
            },
            {"nextLockToken": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
            read_only=False,
        )

    def _change(self, rec: dict, service: str) -> dict:
        return {
            "time": rec["eventTime"],
            "eventName": rec["eventName"],
            "eventSource": rec["eventSource"],
            "service": service,
            "actor": rec["userIdentity"]["arn"],
            "eventID": rec["eventID"],
        }

    def _ct_noise(self, rng: random.Random, t: float, incident: bool) -> dict:
        """One routine record: controllers, pods and nodes talking to AWS all day long."""
        x = rng.random()
        node_ip = f"10.0.{16 * rng.randint(1, 3)}.{rng.randint(20, 250)}"
        go_ua = "aws-sdk-go-v2/1.32.6 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64"
        if x < 0.22:
            return self._ct(
                rng,
                t,
                "ec2.amazonaws.com",
                rng.choice(
                    (
                        "DescribeInstances",
                        "DescribeInstanceTypeOfferings",
                        "DescribeSubnets",
                        "DescribeLaunchTemplates",
                    )
                ),
                self._identity("shop-prod-karpenter", "karpenter"),
                node_ip,
                go_ua + " api/ec2#1.190.0",
                {"maxResults": 500},
                None,
                read_only=True,
            )
        if x < 0.40:
            tg = rng.choice(list(TARGET_GROUPS.values()))
            return self._ct(
                rng,
                t,
                "elasticloadbalancing.amazonaws.com",
                "DescribeTargetHealth",
                self._identity(
                    "shop-prod-aws-lb-controller", f"{int(t) - 3000}{rng.randint(100, 999)}"
                ),
                node_ip,
                go_ua + " api/elasticloadbalancingv2#1.43.2",
                {"targetGroupArn": tg},
                None,
                read_only=True,
            )
        if x < 0.58:
            svc = rng.choice(("checkout", "payments", "inventory", "auth", "recommendations"))
            return self._ct(
                rng,
                t,
                "sts.amazonaws.com",
                "AssumeRoleWithWebIdentity",
                {
                    "type": "WebIdentityUser",
                    "principalId": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/"
                    f"8E1F4C2A9B7D3E5F:system:serviceaccount:prod:{svc}",
                    "userName": f"system:serviceaccount:prod:{svc}",
                    "identityProvider": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.{REGION}"
                    ".amazonaws.com/id/8E1F4C2A9B7D3E5F",
                },
                node_ip,
                "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#6.1.115 md/arch#x86_64"
                " lang/python#3.12.7",
                {
                    "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/prod-{svc}",
                    "roleSessionName": f"botocore-session-{int(t) - 60}",
                },
                None,
                read_only=True,
            )
        if x < 0.72:
            svc, name = rng.choice(
                (
                    ("auth", "/prod/auth/oidc/issuer_url"),
                    ("payments", "/prod/payments/psp/base_url"),
                    ("recommendations", "/prod/recommendations/ranker/model_version"),
                )
            )
            return self._ct(
                rng,
                t,
                "ssm.amazonaws.com",
                "GetParameter",
                self._identity(f"prod-{svc}", f"botocore-session-{int(t) // 900}"),
                node_ip,
                go_ua + " api/ssm#1.56.0",
                {"name": name, "withDecryption": False},
                None,
                read_only=True,
            )
        if x < 0.80:
            return self._ct(
                rng,
                t,
                "secretsmanager.amazonaws.com",
                "GetSecretValue",
                self._identity("prod-checkout", f"botocore-session-{int(t) // 900}"),
                node_ip,
                "aws-sdk-java/2.29.20 Linux/6.1.115 OpenJDK_64-Bit_Server_VM"
                "/21.0.5+11-LTS Java/21.0.5",
                {"secretId": "prod/checkout/db"},
                None,
                read_only=True,
            )
        if x < 0.88:
            return self._ct(
                rng,
                t,
                "kms.amazonaws.com",
                "Decrypt",
                self._identity("shop-prod-node", f"i-0{rng.getrandbits(64):016x}"[:19]),
                node_ip,
                go_ua,
                {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                None,
                read_only=True,
            )
        if x < 0.94:
            return self._ct(
                rng,
                t,
                "ecr.amazonaws.com",
                "GetAuthorizationToken",
                self._identity("shop-prod-node", f"i-0{rng.getrandbits(64):016x}"[:19]),
                node_ip,
                go_ua,
                {"registryIds": [ACCOUNT_ID]},
                None,
                read_only=True,
            )
        if x < 0.97 and incident:
            return self._ct(
                rng,
                t,
                "monitoring.amazonaws.com",
                rng.choice(("GetMetricData", "DescribeAlarms")),
                self._identity(_SRE_ROLE, "oncall@example.com", human=True),
                "203.0.113.57",
                "AWS Internal",
                {"maxDatapoints": 1440},
                None,
                read_only=True,
            )
        name = rng.choice(("CreateFleet", "CreateTags", "TerminateInstances", "DescribeInstances"))
        return self._ct(
            rng,
            t,
            "ec2.amazonaws.com",
            name,
            self._identity("shop-prod-karpenter", "karpenter"),
            node_ip,
            go_ua + " api/ec2#1.190.0",
            {"resourcesSet": {"items": [{"resourceId": f"i-0{rng.getrandbits(64):016x}"[:19]}]}}
            if name != "DescribeInstances"
            else {"maxResults": 500},
            None,
            read_only=name == "DescribeInstances",
        )

    def _cloudtrail(self, segments: list[_Segment]) -> None:
        rng = random.Random(f"cloudtrail/{self.key}")
        stats = self.stats.sources["cloudtrail"]
        delivered: dict[tuple[str, int], list[dict]] = defaultdict(list)
        per_5min = 150 * max(self.scale, 0.25)
        carry: list[dict] = []
        for seg in segments:
            scheduled = sorted(self.ct_events, key=lambda e: e.t) if seg.faults else []
            start = int(seg.start // 300) * 300
            for p in range(start, int(seg.end), 300):
                incident = seg.faults and self.ws + 120 <= p < self.we
                n = int(rng.gauss(per_5min, per_5min**0.5 * 0.5))
                recs = [
                    self._ct_noise(rng, p + rng.random() * 300, incident) for _ in range(max(n, 1))
                ]
                recs += [e.record for e in scheduled if p <= e.t < p + 300]
                recs.sort(key=lambda r: r["eventTime"])
                # CloudTrail batches about 5 minutes and delivers late; some records arrive
                # in the next file.
                keep, late = [], []
                for r in recs:
                    (late if rng.random() < 0.08 else keep).append(r)
                recs, carry = carry + keep, late
                deliver = p + 300 + rng.uniform(60, 290)
                self._put_ct_file(rng, REGION, deliver, recs, stats, delivered)
                if rng.random() < 0.3:
                    scanner = self._identity("SecurityAudit-Prowler", "prowler-scan")
                    other = [
                        self._ct(
                            rng,
                            p + rng.random() * 300,
                            "ec2.amazonaws.com",
                            "DescribeRegions",
                            scanner,
                            "52.94.76.10",
                            "prowler/4.5.0",
                            None,
                            None,
                            read_only=True,
                            region="us-west-2",
                        )
                        for _ in range(rng.randint(1, 4))
                    ]
                    self._put_ct_file(
                        rng, "us-west-2", deliver + rng.uniform(1, 30), other, stats, delivered
                    )
            if carry:
                self._put_ct_file(rng, REGION, seg.end + 300, carry, stats, delivered)
                carry = []
        self._digests(delivered)

    def _put_ct_file(
        self,
        rng: random.Random,
        region: str,
        deliver: float,
        recs: list[dict],
        stats: SourceStats,
        delivered: dict,
    ) -> None:
        if not recs:
            return
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(deliver))
        key = (
            f"{CLOUDTRAIL_PREFIX}/{region}/{time.strftime('%Y/%m/%d', time.gmtime(deliver))}/"
            f"{ACCOUNT_ID}_CloudTrail_{region}_{stamp}_{''.join(rng.choices(_ALNUM, k=16))}"
            ".json.gz"
        )
        raw = orjson.dumps({"Records": recs})
        data = _gzip(raw)
        self.sink.put(key, data)
        stats.objects += 1
        stats.lines += len(recs)
        stats.bytes_uncompressed += len(raw)
        stats.bytes_compressed += len(data)
        for r in recs:
            t = datetime.fromisoformat(r["eventTime"]).timestamp()
            if self.bs <= t < self.we:
                self.stats.lines_in_windows += 1
        times = [r["eventTime"] for r in recs]
        delivered[(region, int(deliver // 3600))].append(
            {
                "s3Bucket": "shop-prod-logs",
                "s3Object": key,
                "hashValue": hashlib.sha256(raw).hexdigest(),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": max(times),
                "oldestEventTime": min(times),
            }
        )

    def _digests(self, delivered: dict) -> None:
        previous: dict[str, str | None] = {}
        for region, hour in sorted(delivered):
            files = delivered[(region, hour)]
            end = (hour + 1) * 3600
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(end))
            key = (
                f"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/{region}/"
                f"{time.strftime('%Y/%m/%d', time.gmtime(end))}/{ACCOUNT_ID}_CloudTrail-Digest_"
                f"{region}_{TRAIL_NAME}_{region}_{stamp}.json.gz"
            )
            doc = {
                "awsAccountId": ACCOUNT_ID,
                "digestStartTime": _iso_s(end - 3600),
                "digestEndTime": _iso_s(end),
                "digestS3Bucket": "shop-prod-logs",
                "digestS3Object": key,
                "digestPublicKeyFingerprint": _digest("digest-key")[:32],
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": max(f["newestEventTime"] for f in files),
                "oldestEventTime": min(f["oldestEventTime"] for f in files),
                "previousDigestS3Bucket": "shop-prod-logs" if previous.get(region) else None,
                "previousDigestS3Object": previous.get(region),
                "previousDigestHashValue": _digest("prev", previous.get(region) or ""),
                "previousDigestHashAlgorithm": "SHA-256",
                "previousDigestSignature": _digest("sig", key) * 4,
                "logFiles": files,
            }
            previous[region] = key
            self.sink.put(key, _gzip(orjson.dumps(doc)))

    # ------------------------------------------------------------------------------ results

    def spec(self, source_root: str) -> IncidentSpec:
        loud = sorted(self.stats.errors_incident.items(), key=lambda kv: (-kv[1], kv[0]))
        affected = [s for s, n in loud[:2] if n > 0]
        title = f"{self.sc.symptom} on {' and '.join(affected) or 'the storefront'}"
        return IncidentSpec(
            id=f"INC-{self.sc.name}-{self.seed}",
            title=title,
            severity=self.sc.severity,
            window=TimeWindow(start=_dt(self.ws), end=_dt(self.we)),
            services=affected,
            sources=[
                Source(
                    name="app", uri=f"{source_root}/{APP_PREFIX}", format=LogFormat.FLUENTBIT_K8S
                ),
                Source(name="alb", uri=f"{source_root}/{ALB_PREFIX}", format=LogFormat.ALB),
                Source(
                    name="cloudtrail",
                    uri=f"{source_root}/{CLOUDTRAIL_PREFIX}",
                    format=LogFormat.CLOUDTRAIL,
                ),
            ],
            baseline=[],
        )

    def truth(self) -> GroundTruth:
        cascading = [
            s
            for s, n in sorted(self.cascade.items(), key=lambda kv: (-kv[1], kv[0]))
            if s != self.root and n > 0
        ]
        return GroundTruth(
            scenario=self.sc.name,
            seed=self.seed,
            root_cause_service=self.root,
            kind=self.sc.kind,
            onset=_dt(self.onset),
            incident_window=TimeWindow(start=_dt(self.onset), end=_dt(self.mitigated)),
            change_event=self.change_event,
            cascading_services=cascading,
            noise=list(self.noise),
            description=self.description,
        )


def _floor_min(t: float) -> float:
    return float(int(t // 60) * 60)
