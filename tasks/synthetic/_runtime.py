"""What every simulated behaviour shares within one stretch of time: the random generators,
the pods, the app log and the tally of what falls in the incident's windows."""

from __future__ import annotations

import math
import random
from collections import Counter

import orjson

from tasks.synthetic._catalogue import ERRORISH, PY_LEVEL
from tasks.synthetic._cluster import Cluster, Pod
from tasks.synthetic._util import Timestamps
from tasks.synthetic.scenarios import Plan
from tasks.synthetic.stats import GenerationStats
from tasks.synthetic.writers import AlbWriter, FluentBitWriter


class WindowTally:
    """Counts lines in the incident window and the default baseline, and app errors per service.

    Only the stretch that holds the incident (`active`) counts; `cascade` is shared across
    stretches, as the ground truth reads it once at the end.
    """

    def __init__(
        self, plan: Plan, active: bool, stats: GenerationStats, cascade: Counter[str]
    ) -> None:
        self.baseline_start, self.start = plan.times.baseline_start, plan.times.start
        self.end = plan.times.end
        self.active, self.stats, self.cascade = active, stats, cascade
        self.errors_incident: Counter[str] = Counter()
        self.errors_baseline: Counter[str] = Counter()

    def line(self, t: float) -> bool:
        if self.baseline_start <= t < self.end and self.active:
            self.stats.lines_in_windows += 1
            return True
        return False

    def app_line(self, service: str, t: float, err: bool, cascade: bool) -> None:
        if self.line(t) and err:
            if t >= self.start:
                self.errors_incident[service] += 1
                if cascade:
                    self.cascade[service] += 1
            else:
                self.errors_baseline[service] += 1


def _node(pod: Pod, t: float, level: str, msg: str, ts: Timestamps) -> dict:
    return {"level": level, "time": int(t * 1000), "pid": 1, "hostname": pod.name, "msg": msg}


def _go(pod: Pod, t: float, level: str, msg: str, ts: Timestamps) -> dict:
    return {"level": level, "ts": round(t, 6), "caller": "server/log.go:71", "msg": msg}


def _python(pod: Pod, t: float, level: str, msg: str, ts: Timestamps) -> dict:
    return {
        "timestamp": ts.iso_ms(t),
        "level": PY_LEVEL[level],
        "logger": f"{pod.svc.name}.app",
        "msg": msg,
    }


def _java(pod: Pod, t: float, level: str, msg: str, ts: Timestamps) -> dict:
    return {
        "@timestamp": ts.iso_ms(t),
        "level": "WARN" if level == "warn" else level.upper(),
        "thread": f"http-nio-8080-exec-{1 + int(t * 7) % 40}",
        "logger": "c.e.checkout.web.RequestLog",
        "msg": msg,
    }


#: How each language's logging library starts a structured line; fields are added after.
_STRUCTURED = {"node": _node, "go": _go, "python": _python}


def _trace_in_text(pod: Pod, msg: str, trace: str, span: str | None) -> str:
    """The message as each stack's logging pattern prints trace context into it."""
    span = span or ""
    lang = pod.svc.lang
    if lang == "java":
        return f"[{pod.svc.name},{trace},{span},true] {msg}"  # Sleuth / Micrometer
    if lang == "go":
        return f"{msg} TraceID: {trace} SpanID: {span}"
    if lang == "node":
        return f"{msg} traceparent=00-{trace}-{span}-01"
    return f"{msg} [trace_id={trace} span_id={span}]"


class AppLog:
    """Container log lines: structured JSON in each service's own shape, or plain text.

    With `text_traces`, trace and span IDs move from JSON fields into the message text.
    """

    def __init__(
        self,
        writer: FluentBitWriter,
        tally: WindowTally,
        timestamps: Timestamps,
        *,
        text_traces: bool = False,
    ):
        self.writer, self.tally, self.timestamps = writer, tally, timestamps
        self.text_traces = text_traces

    def log(
        self,
        pod: Pod,
        t: float,
        level: str,
        msg: str,
        fields: dict | None = None,
        *,
        status: int | None = None,
        cascade: bool = False,
    ) -> None:
        d = _STRUCTURED.get(pod.svc.lang, _java)(pod, t, level, msg, self.timestamps)
        if fields:
            d.update(fields)
            if self.text_traces and "trace_id" in d:
                trace, span = d.pop("trace_id"), d.pop("span_id", None)
                d["msg"] = _trace_in_text(pod, d["msg"], trace, span)
        if status is not None:
            d["status"] = status
        self.writer.add_log(pod.svc.name, pod.kubernetes, t, orjson.dumps(d).decode(), b"stdout")
        err = level in ERRORISH or (status is not None and status >= 500)
        self.tally.app_line(pod.svc.name, t, err, cascade)

    def text(
        self, pod: Pod, t: float, line: str, err: bool = False, stream: bytes = b"stdout"
    ) -> None:
        self.writer.add_log(pod.svc.name, pod.kubernetes, t, line, stream)
        self.tally.app_line(pod.svc.name, t, err, False)


class Runtime:
    """The shared machinery; behaviours draw from `rng` in the order they run."""

    def __init__(
        self,
        plan: Plan,
        active: bool,
        scale: float,
        rng: random.Random,
        cluster: Cluster,
        app: AppLog,
        alb: AlbWriter,
    ) -> None:
        self.plan, self.active, self.scale, self.rng = plan, active, scale, rng
        self.cluster, self.app, self.alb, self.tally = cluster, app, alb, app.tally
        self.log = app.log
        self.pick = cluster.pick
        # auth's load shedding, per (pod, 10 s): rejected before its access log, summarised later
        self.shed: Counter[tuple[str, int]] = Counter()
        # config-change: when each of the root's pods reloaded the bad value
        self.reloaded_at: dict[str, float] = {}

    def ri(self, a: int, b: int) -> int:
        # random.randint costs ~1 µs through randrange; this is a few times cheaper.
        return a + int(self.rng.random() * (b - a + 1))

    def ln(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    def trace(self) -> dict:
        return {"trace_id": f"{self.rng.getrandbits(128):032x}"}

    def span(self, trace: dict) -> dict:
        return {"trace_id": trace["trace_id"], "span_id": f"{self.rng.getrandbits(64):016x}"}

    def fault_level(self, service: str, t: float) -> float:
        f = self.plan.fault
        if f is None or f.service != service or not self.active:
            return 0.0
        return f.level(t)

    def fault_kind(self, level: float) -> str:
        return self.plan.fault.kind if level and self.plan.fault else ""

    def net_delay(self, service: str, t: float) -> float:
        """slow-callee: the network time added to a call to `service` (no draw otherwise)."""
        lvl = self.fault_level(service, t)
        if self.fault_kind(lvl) != "netdelay":
            return 0.0
        return lvl * self.ln(self.plan.fault.delay_ms, 0.6)

    def starved(self, lvl: float, ms: float) -> tuple[float, bool]:
        """cpu-starved: (slowed handling time, whether the request was dropped unlogged).

        Throttled CPU lowers what the service can complete per minute below what arrives:
        the share beyond its capacity waits in the accept queue until the caller gives up and
        is never handled (no log line); the rest is handled slowly, after a run-queue wait.
        """
        fault = self.plan.fault
        if self.rng.random() < lvl * fault.p:
            return fault.drop_ms + self.ln(50.0, 0.5), True
        return ms * (1.0 + 5.0 * lvl) + lvl * self.ln(fault.delay_ms, 0.8), False

    def red_herring(self, service: str, t: float) -> bool:
        return self.active and self.plan.red_herring.active(service, t)

    def reloaded(self, pod: Pod, t: float) -> bool:
        """config-change: whether this pod runs with the bad value at `t`."""
        return t >= self.reloaded_at.get(pod.name, math.inf)
