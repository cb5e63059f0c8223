"""The baseline stage on the generator's honest scenarios: the injected service must rank first.

Each scenario has callers that are louder than the root cause, unrelated errors in the baseline
and a red herring during the incident, so ranking by volume alone would fail these tests.
Plain functions, no Prefect: gather from a local folder, then the baseline stage.
"""

from __future__ import annotations

import pytest

from tasks.contracts import Findings, IncidentSpec
from tasks.synthetic.generator import SCENARIOS, GroundTruth
from tests.incidents import draft_generated

pytestmark = pytest.mark.slow


Drafted = tuple[IncidentSpec, GroundTruth, Findings]


@pytest.fixture(scope="module")
def drafted(tmp_path_factory: pytest.TempPathFactory):
    """Findings per (scenario, seed), computed once per module: generation is the slow part."""
    cache: dict[tuple[str, int], Drafted] = {}

    def get(scenario: str, seed: int) -> Drafted:
        if (scenario, seed) not in cache:
            folder = tmp_path_factory.mktemp(f"{scenario}-{seed}")
            d = draft_generated(folder, scenario, seed, scale=0.3)
            cache[scenario, seed] = d.spec, d.truth, d.findings
        return cache[scenario, seed]

    return get


# Where the stage gets it wrong, said as it is. The ranking's weights are set on real data
# (tasks/baseline/suspects.py), never tuned to make the generator's scenarios pass.
_QUIET_ROOT = (
    "{root} logs nothing unusual ({why}), so it scores only blame by callers and trace depth, "
    "counted at three quarters (~0.30); its callers deviate first and log the errors, and "
    "they outrank it (ranked 4th at scale 0.3)"
)
KNOWN_MISSES = {
    ("slow-callee", 1): _QUIET_ROOT.format(root="payments", why="the delay is on the wire"),
    ("slow-callee", 2): _QUIET_ROOT.format(root="inventory", why="the delay is on the wire"),
    ("silent-exception", 2): _QUIET_ROOT.format(
        root="payments", why="its failing requests write no line at all"
    ),
}


def _cases() -> list:
    return [
        pytest.param(
            scenario,
            seed,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[scenario, seed])]
            if (scenario, seed) in KNOWN_MISSES
            else [],
            id=f"{seed}-{scenario}",
        )
        for scenario in sorted(SCENARIOS)
        for seed in (1, 2)
    ]


@pytest.mark.parametrize(("scenario", "seed"), _cases())
def test_injected_service_ranks_first(drafted, scenario: str, seed: int) -> None:
    _, truth, findings = drafted(scenario, seed)
    ranking = [s.service for s in findings.suspects]
    assert ranking, "no suspects at all"
    assert ranking[0] == truth.root_cause_service, (
        f"{scenario}: ranked {ranking[:4]}, injected {truth.root_cause_service}\n"
        + "\n".join(f"{s.service}: {s.score:.2f} {s.reasons}" for s in findings.suspects[:4])
    )
    top = findings.suspects[0]
    assert top.reasons and top.evidence_ids


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_scenario_is_honest(drafted, scenario: str) -> None:
    """The root cause is not simply the service with the most errors in the incident window."""
    _, truth, findings = drafted(scenario, 1)
    loudest = max(findings.services, key=lambda s: s.errors_incident)
    assert loudest.service != truth.root_cause_service


def test_onset_and_change_events_match_the_ground_truth(drafted) -> None:
    _, truth, findings = drafted("bad-deploy", 1)
    onsets = {o.service: o.at for o in findings.onsets}
    assert truth.root_cause_service in onsets
    # Onset is found to the minute it started (per-minute bins, so within two minutes).
    assert abs((onsets[truth.root_cause_service] - truth.onset).total_seconds()) <= 120
    deploys = [
        c for c in findings.changes if c.kind == "deploy" and c.service == truth.root_cause_service
    ]
    assert deploys and deploys[0].at <= truth.onset
    assert any(p.is_new for p in findings.patterns if truth.root_cause_service in p.services)


def test_config_change_is_seen_in_cloudtrail(drafted) -> None:
    _, truth, findings = drafted("config-change", 1)
    from_trail = [c for c in findings.changes if c.source == "cloudtrail" and c.kind == "config"]
    assert any(c.service == truth.root_cause_service for c in from_trail)


def test_trace_ids_written_in_the_message_text_are_followed(drafted) -> None:
    """deploy-text-traces has no trace field at all: the trace evidence comes from the text."""
    _, truth, findings = drafted("deploy-text-traces", 1)
    top = findings.suspects[0]
    assert top.service == truth.root_cause_service
    assert any("failing requests (trace IDs)" in reason for reason in top.reasons), top.reasons
