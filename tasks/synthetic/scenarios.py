"""The scenarios, and the frozen plan of one incident that the simulation reads.

A plan is drawn from its own generator seeded by (scenario, seed), before any log line, so it
does not depend on `scale`: the same incident at any volume.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import AwareDatetime, BaseModel

from tasks.contracts import TimeWindow
from tasks.synthetic import _cloudtrail as ct
from tasks.synthetic._catalogue import BENIGN_PREVIOUS
from tasks.synthetic._util import bump, hhmm
from tasks.synthetic.topology import DEPENDENCIES, SERVICES


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
    # Services print trace context inside the message text (Sleuth, "TraceID: ..."), not as
    # JSON fields, as many real logging patterns do.
    text_traces: bool = False
    # Seed n takes roots[n % len(roots)], so that consecutive seeds cover every variant.
    root_by_seed: bool = False


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
        # The harder ones: each takes away a signal the five above give for free.
        Scenario(
            "deploy-text-traces",
            "deploy",
            "bad-deploy, but every service writes its trace context only in the message text "
            "(Sleuth [app,trace,span,true], 'TraceID: .. SpanID: ..', trace_id=.., "
            "traceparent=..), never as a JSON field.",
            ("checkout", "inventory", "payments"),
            False,
            "SEV2",
            "5xx spike",
            text_traces=True,
            root_by_seed=True,
        ),
        Scenario(
            "slow-callee",
            "network",
            "The network path to one service's pods adds latency (a degraded node/ENI); the "
            "service logs nothing unusual, its callers' calls grow slow and some time out.",
            ("inventory", "payments"),
            False,
            "SEV3",
            "Slow pages and timeouts",
            root_by_seed=True,
        ),
        Scenario(
            "cpu-starved",
            "cpu-throttling",
            "One service is CPU-throttled (its CFS quota exhausted by a noisy co-tenant "
            "process): everything it does gets slower and it completes fewer requests, with "
            "no errors of its own; its callers time out.",
            ("inventory", "checkout"),
            False,
            "SEV3",
            "Slow pages and timeouts",
            root_by_seed=True,
        ),
        Scenario(
            "silent-exception",
            "exception",
            "A data-triggered exception in one service is answered with a bare 500 by a "
            "catch-all handler that logs nothing; only its callers' errors show it.",
            ("payments", "inventory"),
            False,
            "SEV2",
            "5xx spike",
            root_by_seed=True,
        ),
    )
}


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """The root cause's behaviour: `level(t)` in [0, 1] ramps up, holds, then fades."""

    kind: str  # bug | slow | pool | config | shed | netdelay | cpu | silent
    service: str
    start: float
    end: float
    ramp: float = 60.0
    tail: float = 90.0
    p: float = 1.0  # probability that an affected request fails at full level
    version: str | None = None  # bug: only pods running this version fail
    delay_ms: float = 0.0  # netdelay: median added per call; cpu: median run-queue wait
    drop_ms: float = 0.0  # cpu: how long a dropped request keeps its caller (past any timeout)

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


@dataclass(frozen=True)
class Rollout:
    service: str
    at: float
    version: str
    reason: str  # deploy | rollback | scale-up
    count: int | None = None  # scale-up: pods added


@dataclass(frozen=True)
class CtEvent:
    """A scheduled CloudTrail write (a cause, a fix, or noise)."""

    t: float
    record: dict


@dataclass(frozen=True)
class RedHerring:
    """An unrelated service's burst of errors during the incident."""

    service: str
    start: float
    end: float

    def active(self, service: str, t: float) -> bool:
        return self.service == service and self.start <= t < self.end


@dataclass(frozen=True)
class TriggerLine:
    """A one-off app log line that marks the cause (a job starting, being cancelled)."""

    service: str
    t: float
    level: str
    msg: str
    fields: dict


@dataclass(frozen=True)
class ConfigReload:
    """Pods reload an SSM parameter on their own timers: the first reload is the onset."""

    param: str
    old_version: int
    first: float
    spread: float
    end: float


@dataclass(frozen=True)
class Timeline:
    """The scale-independent times of an incident, in epoch seconds."""

    start: float  # the window the SRE reported
    end: float
    baseline_start: float  # the default baseline: the equal-length window before
    length: float
    onset: float  # the root cause's true start and end
    mitigated: float


@dataclass(frozen=True)
class Plan:
    """Everything decided before the first log line; the simulation only reads it."""

    scenario: Scenario
    seed: int
    root: str
    times: Timeline
    red_herring: RedHerring
    benign: str  # the service with a harmless deploy in the baseline
    benign_previous: str
    fault: Fault | None
    storm: tuple[float, float] | None  # lb-throttling: the login storm's start and end
    rollouts: tuple[Rollout, ...]
    ct_events: tuple[CtEvent, ...]
    trigger_lines: tuple[TriggerLine, ...]
    config: ConfigReload | None
    change_event: dict | None
    noise: tuple[str, ...]
    description: str

    @property
    def key(self) -> str:
        """What every random generator of this incident is seeded with."""
        return f"{self.scenario.name}/{self.seed}"


@dataclass
class _Draft:
    """The parts a scenario's planner fills in, frozen into the Plan afterwards."""

    fault: Fault | None = None
    storm: tuple[float, float] | None = None
    rollouts: list[Rollout] = field(default_factory=list)
    ct_events: list[CtEvent] = field(default_factory=list)
    trigger_lines: list[TriggerLine] = field(default_factory=list)
    config: ConfigReload | None = None
    change_event: dict | None = None
    noise: list[str] = field(default_factory=list)
    description: str = ""


def plan_incident(scenario: Scenario, seed: int, start: float) -> Plan:
    """Draw the incident: its times, root cause, cause and fix events, and the noise."""
    r = random.Random(f"plan/{scenario.name}/{seed}")
    length = r.randint(34, 45) * 60
    end = start + length
    root = r.choice(scenario.roots)  # drawn even when overridden: later draws keep their place
    if scenario.root_by_seed:
        root = scenario.roots[seed % len(scenario.roots)]
    # SREs open the incident late or early: the root cause may start a few minutes before
    # the reported window or several minutes into it.
    onset = round(start + r.uniform(-3.5 * 60, 7 * 60), 3)
    mitigated = round(min(onset + r.uniform(17, 26) * 60, end - 150), 3)
    times = Timeline(start, end, start - length, length, onset, mitigated)
    rh = r.choice(("search", "recommendations"))
    rh_start = onset + r.uniform(5, 12) * 60
    red_herring = RedHerring(rh, rh_start, min(rh_start + r.uniform(4, 8) * 60, end - 60))
    draft = _Draft()
    _PLANNERS[scenario.name](r, draft, root, times)
    benign = "recommendations" if rh == "search" else "search"
    _plan_noise(r, draft, times, red_herring, benign)
    return Plan(
        scenario=scenario,
        seed=seed,
        root=root,
        times=times,
        red_herring=red_herring,
        benign=benign,
        benign_previous=BENIGN_PREVIOUS[benign],
        fault=draft.fault,
        storm=draft.storm,
        rollouts=tuple(draft.rollouts),
        ct_events=tuple(draft.ct_events),
        trigger_lines=tuple(draft.trigger_lines),
        config=draft.config,
        change_event=draft.change_event,
        noise=tuple(draft.noise),
        description=draft.description,
    )


_BUG_P = {"checkout": 0.35, "inventory": 0.6, "payments": 0.45}
_BUG_WHAT = {
    "checkout": "a NullPointerException in PriceCalculator.applyPromotions for orders "
    "with a promo code",
    "inventory": "KeyError: 'warehouse_id' in the new multi-warehouse allocation "
    "(reservations, some stock reads)",
    "payments": "a nil-pointer panic in applyFX for non-EUR charges",
}


def _plan_bad_deploy(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    svc = SERVICES[root]
    new = bump(svc.version, 1)
    pushed = tl.onset - r.uniform(3, 9) * 60
    rec = ct.put_image(r, pushed, root, new)
    d.ct_events.append(CtEvent(pushed, rec))
    d.change_event = ct.change_summary(rec, root)
    d.rollouts.append(Rollout(root, tl.onset - 25, new, "deploy"))
    d.rollouts.append(Rollout(root, tl.mitigated, svc.version, "rollback"))
    d.fault = Fault(
        "bug", root, tl.onset, tl.mitigated + 60, ramp=1, tail=1, p=_BUG_P[root], version=new
    )
    d.description = (
        f"{root} {svc.version} -> {new} was rolled out from {hhmm(tl.onset)} "
        f"(image pushed by CI at {hhmm(pushed)}, ECR PutImage). The new version throws "
        f"{_BUG_WHAT[root]}; its callers get 5xx and log more errors than {root} itself. Rolled "
        f"back to {svc.version} at {hhmm(tl.mitigated)}."
    )


def _plan_dependency_timeout(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    d.fault = Fault("slow", root, tl.onset, tl.mitigated, ramp=90, tail=120, p=1.0)
    if root == "payments":
        d.description = (
            f"From {hhmm(tl.onset)} the external payment provider "
            "(api.psp.example-pay.com) slowed from ~180 ms to 3-10 s. payments logs slow "
            "PSP calls (warn) and a few deadline errors; checkout times out calling "
            "payments after 3000 ms (and retries), the frontend returns 502 for checkouts. "
            f"The provider recovered at {hhmm(tl.mitigated)}. No change on our side."
        )
    else:
        d.description = (
            f"From {hhmm(tl.onset)} auth's Redis session store became slow (a primary "
            "under memory pressure): auth's session validation takes 0.5-3 s, with some "
            "'i/o timeout' errors. The frontend (800 ms) and checkout (1000 ms) time out "
            f"calling auth. Redis failed over at {hhmm(tl.mitigated)}. No change event."
        )


_POOL_JOBS = {
    "inventory": (
        (
            "info",
            "bulk stock import started",
            {
                "job_id": "imp-erp-nightly-retry",
                "rows": 482113,
                "source": "s3://shop-erp-exports/stock/full-export.csv",
            },
        ),
        (
            "warn",
            "bulk stock import cancelled by operator",
            {"job_id": "imp-erp-nightly-retry", "rows_done": 201877},
        ),
        "a re-run of the nightly ERP bulk stock import (holding connections in long "
        "UPDATE transactions) exhausted inventory's SQLAlchemy pool (QueuePool limit "
        "of size 20 overflow 10)",
    ),
    "checkout": (
        (
            "info",
            "Starting order export job",
            {
                "logger": "c.e.checkout.export.OrderExportJob",
                "job": "finance-export",
                "range": "2026-11-01/2026-11-24",
            },
        ),
        (
            "warn",
            "Order export job cancelled",
            {"logger": "c.e.checkout.export.OrderExportJob", "job": "finance-export"},
        ),
        "an ad-hoc finance order export (long-running reads holding connections) "
        "exhausted checkout's HikariPool-1 (10 connections)",
    ),
}


def _plan_db_pool_exhaustion(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    d.fault = Fault("pool", root, tl.onset, tl.mitigated, ramp=120, tail=90, p=0.75)
    job_start = tl.onset - r.uniform(50, 110)
    started, cancelled, what = _POOL_JOBS[root]
    d.trigger_lines += [
        TriggerLine(root, job_start, *started),
        TriggerLine(root, tl.mitigated, *cancelled),
    ]
    d.description = (
        f"From {hhmm(tl.onset)} {what}. Requests wait 30 s for a connection and fail; "
        "most callers give up long before, so the callers' timeouts and 5xx far outnumber "
        f"the pool errors. The job was cancelled at {hhmm(tl.mitigated)}."
    )


_CONFIG_PARAMS = {
    "auth": ("/prod/auth/oidc/issuer_url", 14),
    "payments": ("/prod/payments/psp/base_url", 7),
}
_CONFIG_WHAT = {
    "auth": "set the OIDC issuer URL to a typo (login.shop-example.com); as auth's pods "
    "reloaded it, every session validation failed with 'oidc: issuer did not "
    "match' (500). The frontend falls back to anonymous pages and fails carts, "
    "checkouts and account pages",
    "payments": "pointed payments at the PSP sandbox URL; as payments' pods reloaded it, "
    "charges failed with 401 invalid_api_key and payments returned 502; "
    "checkout and the frontend fail every checkout",
}


def _plan_config_change(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    param, old_v = _CONFIG_PARAMS[root]
    changed = tl.onset - r.uniform(60, 200)
    reverted = tl.mitigated - r.uniform(30, 90)
    rec = ct.put_parameter(r, changed, param, old_v + 1, "jane.doe@example.com")
    d.ct_events.append(CtEvent(changed, rec))
    d.ct_events.append(
        CtEvent(reverted, ct.put_parameter(r, reverted, param, old_v + 2, "jane.doe@example.com"))
    )
    d.change_event = ct.change_summary(rec, root)
    # Each pod polls SSM on its own 5-minute timer: the first reload is the onset.
    d.fault = Fault("config", root, tl.onset, tl.mitigated, ramp=1, tail=1, p=1.0)
    d.config = ConfigReload(param, old_v, tl.onset, r.uniform(0, 200), tl.mitigated)
    d.description = (
        f"At {hhmm(changed)} an SSM PutParameter on {param} (by a human, via SSO) "
        f"{_CONFIG_WHAT[root]}. Onset {hhmm(tl.onset)} when the first pod reloaded; reverted "
        f"at {hhmm(reverted)}, recovered as pods reloaded (~{hhmm(tl.mitigated)})."
    )


def _plan_lb_throttling(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    storm_start = tl.onset - r.uniform(60, 120)
    d.storm = (storm_start, tl.mitigated)
    d.fault = Fault("shed", "auth", tl.onset, tl.mitigated, ramp=60, tail=60, p=0.6)
    scale_up_at = tl.onset + r.uniform(180, 300)
    d.rollouts.append(Rollout("auth", scale_up_at, SERVICES["auth"].version, "scale-up", count=2))
    waf_at = tl.mitigated - r.uniform(20, 60)
    d.ct_events.append(CtEvent(waf_at, ct.waf_update(r, waf_at)))
    d.noise.append(
        f"auth: HPA scale-up (2 new pods, same version) at ~{hhmm(tl.onset + 240)}; a "
        "reaction to the load, not a cause"
    )
    d.noise.append(
        f"cloudtrail: wafv2 UpdateWebACL at {hhmm(waf_at)} by the on-call SRE is the fix "
        "(a rate-based rule on /oauth/token), not the cause"
    )
    d.description = (
        f"From {hhmm(storm_start)} the ShopApp 5.13.0 mobile release retried POST "
        "/oauth/token in a tight loop (ALB: 5-6x login requests from that user agent). "
        f"From {hhmm(tl.onset)} auth hit its in-flight limit (256) and shed load: the "
        "ALB returns 503 (and 502 on refused connections, 460 when clients give up) for "
        "targetgroup/auth, and the frontend's session checks against auth fail. A WAF "
        f"rate-based rule stopped the storm at {hhmm(waf_at)}."
    )


# Per root: the median delay added to each call, sized so that a fifth or so of the calls
# outlast the callers' timeouts (inventory: 1500/2000 ms, payments: 3000 ms).
_NET_DELAY_MS = {"inventory": 900.0, "payments": 1800.0}


def _plan_slow_callee(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    delay = _NET_DELAY_MS[root]
    d.fault = Fault("netdelay", root, tl.onset, tl.mitigated, ramp=60, tail=60, delay_ms=delay)
    callers = sorted({dep.caller for dep in DEPENDENCIES.values() if dep.service == root})
    d.description = (
        f"From {hhmm(tl.onset)} the network path to {root}'s pods added latency (TCP "
        f"retransmissions on a degraded node ENI; ~{delay / 1000:.1f} s median per call at full "
        f"level). {root} itself logs nothing unusual: its own handling times are unchanged and "
        f"it writes no errors. Its callers ({', '.join(callers)}) see their calls to {root} "
        "grow slow; some time out and retry. The node was cordoned and the pods rescheduled "
        f"at {hhmm(tl.mitigated)}. No change event."
    )


# Per root: (median run-queue wait at full level, longer than every caller's timeout).
_CPU_STARVE = {"inventory": (700.0, 2000.0), "checkout": (1400.0, 8000.0)}
_CPU_DROPPED = 0.4  # the share of arrivals beyond the throttled capacity, at full level


def _plan_cpu_starved(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    wait, drop = _CPU_STARVE[root]
    d.fault = Fault(
        "cpu",
        root,
        tl.onset,
        tl.mitigated,
        ramp=120,
        tail=90,
        p=_CPU_DROPPED,
        delay_ms=wait,
        drop_ms=drop,
    )
    d.description = (
        f"From {hhmm(tl.onset)} {root} was CPU-throttled: a log-shipping sidecar stuck in a "
        f"retry loop burned the pods' shared CFS quota. Everything {root} does got slower "
        f"(handling time x1-6 plus ~{wait / 1000:.1f} s run-queue wait); up to "
        f"{_CPU_DROPPED:.0%} of the requests waited in the accept queue until the caller gave "
        f"up and were never handled (fewer requests per minute, no log line), and {root} "
        f"logged no errors of its own; its callers time out. The sidecar was restarted at "
        f"{hhmm(tl.mitigated)}. No change event."
    )


_SILENT_WHAT = {
    "payments": "a nil-pointer panic in applyFX for charges in a currency added to the "
    "merchant config that morning; payments' recover middleware answers 500 without logging, "
    "and its request log sits inside it, so payments writes no line for these requests",
    "inventory": "KeyError: 'warehouse_id' for SKUs from a new supplier feed; inventory's "
    "catch-all exception handler answers 500 without logging, so only its access log shows "
    "the 500s (no exception, no traceback)",
}


def _plan_silent_exception(r: random.Random, d: _Draft, root: str, tl: Timeline) -> None:
    d.fault = Fault("silent", root, tl.onset, tl.mitigated, ramp=1, tail=1, p=_BUG_P[root])
    d.description = (
        f"From {hhmm(tl.onset)} {_SILENT_WHAT[root]}. Its callers log the 5xx and return their "
        f"own errors. The bad records were removed at {hhmm(tl.mitigated)}. No deploy, no "
        "change event."
    )


_PLANNERS: dict[str, Callable[[random.Random, _Draft, str, Timeline], None]] = {
    "bad-deploy": _plan_bad_deploy,
    "deploy-text-traces": _plan_bad_deploy,
    "slow-callee": _plan_slow_callee,
    "cpu-starved": _plan_cpu_starved,
    "silent-exception": _plan_silent_exception,
    "dependency-timeout": _plan_dependency_timeout,
    "db-pool-exhaustion": _plan_db_pool_exhaustion,
    "config-change": _plan_config_change,
    "lb-throttling": _plan_lb_throttling,
}

_RED_HERRING_WHAT = {
    "search": "opensearch es_rejected_execution_exception errors and 503s",
    "recommendations": "model snapshot reload errors (serving a stale model)",
}


def _plan_noise(r: random.Random, d: _Draft, tl: Timeline, rh: RedHerring, benign: str) -> None:
    d.noise.append(
        f"{rh.service}: red herring, {_RED_HERRING_WHAT[rh.service]} {hhmm(rh.start)}-"
        f"{hhmm(rh.end)} during the incident, unrelated to the root cause"
    )
    # A harmless deploy in the baseline, with its own PutImage: the same shape as a bad one.
    svc = SERVICES[benign]
    at = tl.baseline_start + r.uniform(0.15, 0.55) * tl.length
    d.rollouts.append(Rollout(benign, at, svc.version, "deploy"))
    pushed = at - r.uniform(240, 480)
    d.ct_events.append(CtEvent(pushed, ct.put_image(r, pushed, benign, svc.version)))
    d.noise.append(
        f"{benign}: routine deploy {BENIGN_PREVIOUS[benign]} -> {svc.version} at {hhmm(at)} "
        "in the baseline window (with an ECR PutImage), harmless"
    )
    t = tl.baseline_start + r.uniform(0.1, 0.9) * tl.length
    param = "/prod/recommendations/ranker/model_version"
    d.ct_events.append(CtEvent(t, ct.put_parameter(r, t, param, 31, "sam.lee@example.com")))
    d.noise.append(f"cloudtrail: PutParameter {param} at {hhmm(t)} (baseline), harmless")
    d.noise.append(
        "background: known low-rate errors in both windows (search opensearch timeouts, "
        "recommendations embeddings AccessDenied, frontend TypeError, auth invalid_grant, "
        "payments card declines, ALB 460/502)"
    )
    d.noise.append(
        "cloudtrail: Karpenter node churn (CreateFleet, CreateTags, "
        "TerminateInstances) and on-call read-only calls during the incident"
    )
