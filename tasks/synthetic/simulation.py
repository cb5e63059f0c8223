"""Run a plan: simulate each stretch of time minute by minute, then CloudTrail.

Every stretch has its own random generators, seeded by (scenario, seed, stretch), and reads
the same frozen plan, so the bytes depend only on (scenario, seed, scale, start).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass

import numpy as np

from tasks.synthetic._background import Background
from tasks.synthetic._cloudtrail import Span, write_cloudtrail
from tasks.synthetic._cluster import Cluster
from tasks.synthetic._edge import Edge
from tasks.synthetic._runtime import AppLog, Runtime, WindowTally
from tasks.synthetic._services import Services
from tasks.synthetic._util import Timestamps, floor_min
from tasks.synthetic.scenarios import Plan
from tasks.synthetic.sinks import ObjectSink
from tasks.synthetic.stats import GenerationStats
from tasks.synthetic.topology import SERVICES
from tasks.synthetic.writers import AlbWriter, CloudTrailWriter, FluentBitWriter

_WEEK = 7 * 86400


@dataclass(frozen=True)
class Segment:
    name: str  # main | week
    start: float
    end: float
    faults: bool  # whether the scenario's fault, red herring and deploys happen here


def segments(plan: Plan) -> list[Segment]:
    """The incident with its baseline and some margin; and the same window a week earlier."""
    tl = plan.times
    out = [Segment("main", floor_min(tl.baseline_start - 8 * 60), floor_min(tl.end + 8 * 60), True)]
    if plan.scenario.week_ago:
        start, end = floor_min(tl.start - _WEEK - 5 * 60), floor_min(tl.end - _WEEK + 5 * 60)
        out.append(Segment("week", start, end, False))
    return out


def simulate(plan: Plan, scale: float, sink: ObjectSink, stats: GenerationStats) -> Counter[str]:
    """Write every object of the incident; returns the error lines each service logged
    because of the root cause, in the incident window (its cascade)."""
    cascade: Counter[str] = Counter()
    segs = segments(plan)
    for seg in segs:
        _SegmentRun(plan, seg, scale, sink, stats, cascade).run()
    tl = plan.times

    def count(t: float) -> None:
        if tl.baseline_start <= t < tl.end:
            stats.lines_in_windows += 1

    events = [(e.t, e.record) for e in sorted(plan.ct_events, key=lambda e: e.t)]
    spans = [Span(s.start, s.end, s.faults, events if s.faults else ()) for s in segs]
    writer = CloudTrailWriter(sink, stats.sources["cloudtrail"], count)
    write_cloudtrail(plan.key, spans, scale, (tl.start, tl.end), writer)
    return cascade


class _SegmentRun:
    """One stretch of time. Built in the order its parts draw their first random numbers."""

    def __init__(
        self,
        plan: Plan,
        seg: Segment,
        scale: float,
        sink: ObjectSink,
        stats: GenerationStats,
        cascade: Counter[str],
    ) -> None:
        self.plan, self.seg, self.stats = plan, seg, stats
        rng = random.Random(f"data/{plan.key}/{seg.name}")
        seed = hashlib.sha256(f"np/{plan.key}/{seg.name}".encode()).digest()[:8]
        np_rng = np.random.default_rng(int.from_bytes(seed, "big"))
        timestamps = Timestamps()
        self.tally = WindowTally(plan, seg.faults, stats, cascade)
        self.app = FluentBitWriter(sink, rng, stats.sources["app"], seg.start, timestamps)
        self.alb = AlbWriter(sink, rng, stats.sources["alb"], timestamps)
        rollouts = list(plan.rollouts) if seg.faults else []
        cluster = Cluster(plan.key, seg.name, self._versions(), seg.start, rollouts, rng)
        app_log = AppLog(self.app, self.tally, timestamps, text_traces=plan.scenario.text_traces)
        rt = Runtime(plan, seg.faults, scale, rng, cluster, app_log, self.alb)
        self.edge = Edge(rt, Services(rt), np_rng)
        self.background = Background(rt)

    def _versions(self) -> dict[str, str]:
        week = self.seg.name == "week"
        versions = {s.name: s.week_ago_version if week else s.version for s in SERVICES.values()}
        if self.seg.faults:
            versions[self.plan.benign] = self.plan.benign_previous
        return versions

    def run(self) -> None:
        seg = self.seg
        self.background.one_offs()
        rate_level = 0.92 if seg.name == "week" else 1.0  # a week ago was a slightly quieter day
        storm = self.plan.storm if seg.faults else None
        for m in range(int(seg.start), int(seg.end), 60):
            self.edge.minute(m, rate_level, storm)
            self.background.minute(m)
            self.app.flush(m + 60)
            self.alb.flush(m + 60)
        self.app.close()
        self.alb.close()
        if seg.faults:
            for svc in SERVICES:
                self.stats.errors_incident[svc] = self.tally.errors_incident[svc]
                self.stats.errors_baseline[svc] = self.tally.errors_baseline[svc]
