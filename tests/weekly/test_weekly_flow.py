"""The weekly flow end to end on the real Prefect engine: four generated incidents drafted by the
incident flow (offline analyst), one published, then the review of their week and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.postmortem import incident_postmortem
from flows.weekly_review import weekly_review
from tasks.contracts import Findings, IncidentSpec, Publication
from tasks.output import write_model_json
from tasks.settings import Settings
from tasks.synthetic.generator import generate_incident
from tasks.synthetic.sinks import LocalSink
from tasks.weekly import WeeklyReview

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

WEEK = "2026-W48"

# (scenario, seed, start, minutes from the true onset to detection, minutes from the window start
# to resolution); the first is the week before.
INCIDENTS = [
    ("bad-deploy", 1, datetime(2026, 11, 18, 9, 40, tzinfo=UTC), 9, 55),
    ("bad-deploy", 2, datetime(2026, 11, 23, 13, 5, tzinfo=UTC), 7, 38),
    ("db-pool-exhaustion", 3, datetime(2026, 11, 25, 2, 15, tzinfo=UTC), 12, 95),
    ("config-change", 4, datetime(2026, 11, 27, 16, 30, tzinfo=UTC), None, None),
]


def draft_week(logs: Path, out: Path, settings: Settings) -> list[IncidentSpec]:
    """Generate and draft the incidents above; publish the first of this week."""
    specs = []
    for scenario, seed, start, detect, resolve in INCIDENTS:
        spec, truth = generate_incident(
            scenario,
            seed,
            LocalSink(logs / f"{scenario}-{seed}"),
            source_root=str(logs / f"{scenario}-{seed}"),
            scale=0.05,
            incident_start=start,
        )
        began = spec.window.start
        spec = spec.model_copy(
            update={
                "id": f"{spec.id}-{start:%m%d}",
                "detected_at": truth.onset + timedelta(minutes=detect) if detect else None,
                "resolved_at": began + timedelta(minutes=resolve) if resolve else None,
            }
        )
        incident_postmortem(spec, settings=settings, out=out)
        specs.append(spec)
    first = specs[1]
    write_model_json(
        Publication(
            incident_id=first.id,
            draft_sha256="0" * 64,
            approved_by="sre-lead",
            approved_at=datetime(2026, 11, 24, 10, tzinfo=UTC),
            published_at=datetime(2026, 11, 24, 10, 1, tzinfo=UTC),
        ),
        out / first.id / "published.json",
    )
    return specs


@pytest.fixture(scope="module")
def drafted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[IncidentSpec]]:
    root = tmp_path_factory.mktemp("weekly")
    settings = Settings(analyst="offline")
    return root / "out", draft_week(root / "logs", root / "out", settings)


def test_weekly_flow_reviews_the_generated_week(drafted) -> None:
    out, specs = drafted
    assert all((out / s.id / "spec.json").is_file() for s in specs)
    path = weekly_review(WEEK, Settings(analyst="offline", weekly_review_gate=False), out)
    assert path == out / "weekly" / WEEK / "weekly_review.md"
    review = WeeklyReview.model_validate_json(path.with_suffix(".json").read_text())
    assert [i.incident_id for i in review.incidents] == [s.id for s in specs[1:]]
    assert [i.status for i in review.incidents] == ["published", "pending", "pending"]
    assert review.mttd.count == 2 and review.mttr.count == 2 and review.mttr.missing == 1
    assert review.mttr.median_minutes == pytest.approx((38 + 95) / 2)
    assert [w.total for w in review.trend] == [0, 0, 0, 1, 3]
    # Every recurrence is real: its key is in the findings of each incident it lists.
    findings = {
        s.id: Findings.model_validate_json((out / s.id / "findings.json").read_text())
        for s in specs
    }
    patterns = [r for r in review.recurring if r.kind == "pattern"]
    assert patterns and all(len(r.incidents) >= 2 and r.this_week >= 1 for r in review.recurring)
    for r in patterns:
        for incident in r.incidents:
            assert r.key in {p.pattern_id for p in findings[incident].patterns}
    assert any(r.kind == "change kind" and r.key == "deploy" for r in review.recurring)
    assert review.action_items and all(a.age_days >= 0 for a in review.action_items)
    text = path.read_text()
    assert "## What recurs" in text and specs[0].id in text
    assert path.with_suffix(".html").read_text().count("<svg") == 2


def test_cli_weekly_writes_the_review_and_refuses_a_bad_week(
    drafted, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = drafted
    monkeypatch.setenv("POSTMORTEM_WEEKLY_REVIEW_GATE", "false")
    result = CliRunner().invoke(app, ["weekly", "--week", "2026-W47", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert (out / "weekly" / "2026-W47" / "weekly_review.html").is_file()
    bad = CliRunner().invoke(app, ["weekly", "--week", "W47", "--out", str(out)])
    assert bad.exit_code == 2 and "ISO week" in bad.output


def test_a_scheduled_run_without_a_week_is_named_after_last_week(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    from flows.weekly_review import last_week

    state = weekly_review(
        None, Settings(analyst="offline", weekly_review_gate=False), tmp_path, return_state=True
    )
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"weekly-{last_week(datetime.now(UTC))}"


def test_a_fresh_deployment_reviews_a_quiet_week_and_a_missing_out_folder_is_named(
    tmp_path: Path,
) -> None:
    from tasks.errors import ObjectError

    # Before the first draft, the configured output folder does not exist yet.
    out_dir = tmp_path / "not-yet"
    settings = Settings(analyst="offline", weekly_review_gate=False, out_dir=out_dir)
    path = weekly_review(WEEK, settings)
    assert path == out_dir / "weekly" / WEEK / "weekly_review.md"
    review = WeeklyReview.model_validate_json(path.with_suffix(".json").read_text())
    assert review.incidents == [] and [w.total for w in review.trend] == [0, 0, 0, 0, 0]
    # A folder given explicitly is the user's: a missing one is named, not taken for a quiet week.
    with pytest.raises(ObjectError, match=r"typo: no such output folder"):
        weekly_review(WEEK, settings, tmp_path / "typo")
    assert not (tmp_path / "typo").exists()
    # A configured folder that cannot be made is one sentence naming it, not a traceback.
    (tmp_path / "a-file").write_text("")
    blocked = settings.model_copy(update={"out_dir": tmp_path / "a-file" / "postmortems"})
    with pytest.raises(ObjectError, match=r"a-file/postmortems: cannot create the output folder"):
        weekly_review(WEEK, blocked)
