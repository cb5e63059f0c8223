"""The four harder scenarios take away one signal each; these tests check that they really do.

Each generates at scale 0.05 and reads the Fluent Bit records back, as a reader would.
"""

from __future__ import annotations

import gzip
import re
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from tasks.gather.trace_context import add_trace_context
from tasks.synthetic.generator import SCENARIOS, GeneratedIncident, LocalSink, generate

SMALL = 0.05
HARD = ("deploy-text-traces", "slow-callee", "cpu-starved", "silent-exception")


@dataclass
class Record:
    service: str
    t: float
    log: dict


@dataclass
class Written:
    result: GeneratedIncident
    records: list[Record]

    def of(self, service: str, start: float = 0.0, end: float = float("inf")) -> list[Record]:
        return [r for r in self.records if r.service == service and start <= r.t < end]

    @property
    def onset(self) -> float:
        return self.result.truth.incident_window.start.timestamp()

    @property
    def mitigated(self) -> float:
        return self.result.truth.incident_window.end.timestamp()

    def before(self, service: str) -> list[Record]:
        """The 20 minutes before the root cause started."""
        return self.of(service, self.onset - 1200, self.onset)

    def during(self, service: str) -> list[Record]:
        """From the end of the ramp to mitigation: the fault at full level."""
        return self.of(service, self.onset + 150, self.mitigated)


def _records(root: Path) -> Iterator[Record]:
    for path in sorted((root / "fluent-bit-logs").rglob("*")):
        if path.is_file():
            for line in gzip.decompress(path.read_bytes()).splitlines():
                rec = orjson.loads(line)
                log = rec["log"]
                inner = orjson.loads(log) if log.startswith("{") else {"msg": log}
                yield Record(rec["kubernetes"]["container_name"], rec["date"], inner)


@pytest.fixture(scope="module")
def make(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], Written]:
    cache: dict[tuple[str, int], Written] = {}

    def _make(scenario: str, seed: int) -> Written:
        if (scenario, seed) not in cache:
            root = tmp_path_factory.mktemp(f"{scenario}-{seed}")
            result = generate(scenario, seed, LocalSink(root), source_root=str(root), scale=SMALL)
            cache[scenario, seed] = Written(result, list(_records(root)))
        return cache[scenario, seed]

    return _make


def is_error(log: dict) -> bool:
    status = log.get("status")
    level = str(log.get("level", "")).lower()
    return level in ("error", "fatal", "critical") or (isinstance(status, int) and status >= 500)


def latencies(records: list[Record]) -> list[float]:
    return [r.log["latency_ms"] for r in records if "latency_ms" in r.log]


def per_minute(records: list[Record], seconds: float) -> float:
    return len(records) / (seconds / 60)


@pytest.mark.parametrize("scenario", HARD)
@pytest.mark.parametrize("seed", [1, 2])
def test_two_seeds_two_variants_and_an_honest_truth(make, scenario: str, seed: int) -> None:
    truth = make(scenario, seed).result.truth
    roots = SCENARIOS[scenario].roots
    assert truth.root_cause_service == roots[seed % len(roots)]
    assert truth.cascading_services and truth.root_cause_service not in truth.cascading_services
    assert (truth.change_event is not None) == (scenario == "deploy-text-traces")


# One pattern per stack's logging format; each must appear and carry a 32-hex trace ID.
TEXT_FORMS = {
    "checkout": re.compile(r"^\[checkout,[0-9a-f]{32},[0-9a-f]{16},true\] "),
    "payments": re.compile(r" TraceID: [0-9a-f]{32} SpanID: [0-9a-f]{16}$"),
    "frontend": re.compile(r" traceparent=00-[0-9a-f]{32}-[0-9a-f]{16}-01$"),
    "inventory": re.compile(r" \[trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16}\]$"),
}


def test_trace_ids_are_only_in_the_message_text_and_can_be_followed(make) -> None:
    w = make("deploy-text-traces", 2)
    assert not [r for r in w.records if "trace_id" in r.log or "span_id" in r.log]
    for service, form in TEXT_FORMS.items():
        assert any(form.search(r.log["msg"]) for r in w.of(service)), service
    # The gather pass recovers them, and one request joins across services again.
    rows = [r for r in w.records if r.service in TEXT_FORMS]
    table = pa.table(
        {
            "message": [r.log["msg"] for r in rows],
            "trace_id": pa.nulls(len(rows), pa.string()),
            "attrs": pa.nulls(len(rows), pa.string()),
        }
    )
    traces = add_trace_context(table)["trace_id"].to_pylist()
    by_service: dict[str, set[str]] = {}
    for r, trace in zip(rows, traces, strict=True):
        if any(form.search(r.log["msg"]) for form in TEXT_FORMS.values()):
            assert trace is not None, r.log["msg"]
            by_service.setdefault(r.service, set()).add(trace)
    assert by_service["frontend"] & by_service["checkout"] & by_service["payments"]


def test_a_slow_callee_logs_nothing_unusual_but_its_callers_wait(make) -> None:
    w = make("slow-callee", 1)
    assert w.result.truth.root_cause_service == "payments"
    assert not [r for r in w.of("payments") if is_error(r.log)]
    own_before = statistics.median(latencies(w.before("payments")))
    own_during = statistics.median(latencies(w.during("payments")))
    assert own_during < 1.3 * own_before  # the delay is on the wire, not in its handler
    access = [r for r in w.during("checkout") if "AccessLog" in r.log.get("logger", "")]
    before = [r for r in w.before("checkout") if "AccessLog" in r.log.get("logger", "")]
    assert statistics.median(latencies(access)) > 3 * statistics.median(latencies(before))
    timeouts = [r for r in w.during("checkout") if "timeout calling payments" in r.log["msg"]]
    assert timeouts


def test_a_cpu_starved_service_slows_and_completes_less_without_errors(make) -> None:
    w = make("cpu-starved", 2)
    assert w.result.truth.root_cause_service == "inventory"
    assert not [r for r in w.of("inventory", w.onset - 1200, w.mitigated) if is_error(r.log)]

    def access(records: list[Record], probes: bool = False) -> list[Record]:
        return [
            r
            for r in records
            if r.log.get("logger") == "uvicorn.access" and ("z HTTP/1.1" in r.log["msg"]) == probes
        ]

    before, during = access(w.before("inventory")), access(w.during("inventory"))
    assert statistics.median(latencies(during)) > 5 * statistics.median(latencies(before))
    probes = access(w.during("inventory"), probes=True)  # kubelet's probes wait in the queue too
    assert statistics.median(latencies(probes)) > 5 * 0.9
    rate_before = per_minute(before, 1200)
    rate_during = per_minute(during, w.mitigated - w.onset - 150)
    assert rate_during < 0.9 * rate_before  # retries send some of the dropped ones again
    timeouts = [r for r in w.during("frontend") if "timeout calling inventory" in r.log["msg"]]
    assert timeouts


def test_a_silent_exception_shows_only_in_its_callers(make) -> None:
    quiet = make("silent-exception", 2)
    assert quiet.result.truth.root_cause_service == "payments"
    assert not [r for r in quiet.of("payments") if is_error(r.log)]
    named = [
        r
        for r in quiet.during("checkout")
        if is_error(r.log) and "Call to payments failed: 500" in r.log["msg"]
    ]
    assert named
    # inventory's variant writes only its access log's 500s: no exception text, no traceback.
    little = make("silent-exception", 1)
    errors = [r for r in little.during("inventory") if is_error(r.log)]
    assert errors and all(r.log.get("logger") == "uvicorn.access" for r in errors)
    assert not [r for r in little.of("inventory") if "KeyError" in orjson.dumps(r.log).decode()]
