"""The weekly review on plain data: which week an incident is in, counts, MTTD/MTTR, recurrences,
action items, the trend, the rendered page, and the loader on real folders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks.contracts import (
    Analysis,
    ChangeEvent,
    Claim,
    ClaimVerdict,
    Findings,
    IncidentSpec,
    Onset,
    PatternFinding,
    Publication,
    ReviewRecord,
    ServiceStats,
    Source,
    Suspect,
    TimeWindow,
    Verification,
    WindowSet,
)
from tasks.contracts.findings import Change
from tasks.errors import ObjectError, SpecError
from tasks.output import write_model_json
from tasks.settings import Settings
from tasks.weekly import (
    PostmortemRecord,
    WeeklyReview,
    build_weekly_charts,
    build_weekly_review,
    check_edited_weekly,
    load_postmortems,
    render_weekly,
    render_weekly_html,
    week_bounds,
    write_weekly,
)

SETTINGS = Settings()
WEEK = "2026-W48"  # Monday 2026-11-23 00:00 UTC to Monday 2026-11-30 00:00 UTC


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def record(
    incident_id: str,
    start: datetime,
    *,
    severity: str = "SEV2",
    suspect: str = "checkout",
    services: tuple[str, ...] = ("storefront",),
    patterns: tuple[str, ...] = (),
    changes: tuple[str, ...] = (),
    detected: timedelta | None = None,
    resolved: timedelta | None = None,
    onset: timedelta | None = None,
    actions: tuple[tuple[str, str], ...] = (),
    published: bool = False,
    decision: str | None = None,
    spec: bool = True,
) -> PostmortemRecord:
    window = TimeWindow(start=start, end=start + timedelta(minutes=30))
    findings = Findings(
        incident_id=incident_id,
        windows=WindowSet(incident=window, baselines=[], baseline_kind="default"),
        suspects=[Suspect(service=suspect, rank=1, score=0.9, reasons=["errors first"])],
        services=[
            ServiceStats(
                service=suspect,
                incident_lines=100,
                baseline_lines=100,
                volume_per_min=Change(),
                errors_incident=40,
                errors_baseline=1,
                error_rate=Change(incident=0.4, baseline=0.01, delta=0.39),
                significant=True,
            )
        ],
        patterns=[
            PatternFinding(
                pattern_id=p,
                template=f"connection refused to <*> ({p})",
                services=[suspect],
                incident_count=10,
                baseline_count=0,
                incident_per_min=1.0,
                baseline_per_min=0.0,
                is_new=True,
            )
            for p in patterns
        ],
        onsets=[Onset(service=suspect, at=start + onset, method="first error")] if onset else [],
        changes=[
            ChangeEvent(
                at=start + timedelta(minutes=2), kind=k, summary=f"{k} of {suspect}", source="app"
            )
            for k in changes
        ],
    )
    claims = [
        Claim(
            id=f"C{n}",
            section="action_item",
            kind="recommendation",
            text=text,
            priority=priority,
            action_type="prevent",
        )
        for n, (priority, text) in enumerate(actions, 1)
    ]
    return PostmortemRecord(
        incident_id=incident_id,
        findings=findings,
        spec=IncidentSpec(
            id=incident_id,
            title=f"errors on {', '.join(services)}",
            severity=severity,
            window=window,
            services=list(services),
            sources=[Source(name="app", uri="s3://logs-bucket/app/")],
            detected_at=start + detected if detected is not None else None,
            resolved_at=start + resolved if resolved is not None else None,
        )
        if spec
        else None,
        analysis=Analysis(
            incident_id=incident_id, analyst="offline", claims=claims, created_at=start
        ),
        verification=Verification(
            incident_id=incident_id,
            verdicts=[ClaimVerdict(claim_id=c.id, status="verified", reason="ok") for c in claims],
            grounding_rate=1.0,
        ),
        publication=Publication(
            incident_id=incident_id,
            draft_sha256="0" * 64,
            approved_by="ana",
            approved_at=start,
            published_at=start,
        )
        if published
        else None,
        review=ReviewRecord(
            incident_id=incident_id,
            decision=decision,
            reviewer="ana",
            decided_at=start,
            draft_sha256="0" * 64,
        )
        if decision
        else None,
    )


def test_week_bounds_are_monday_to_monday_in_utc_and_bad_weeks_are_refused() -> None:
    bounds = week_bounds("2026-w48")
    assert bounds.week == WEEK
    assert bounds.start == at(23, 0) and bounds.end == at(30, 0)
    assert week_bounds("2026-W01").start == datetime(2025, 12, 29, tzinfo=UTC)  # ISO year
    for bad in ("2026-48", "2026-W54", "last week"):
        with pytest.raises(SpecError, match="ISO week"):
            week_bounds(bad)


def test_an_incident_belongs_to_the_week_its_window_starts_in_utc() -> None:
    # 23:59 UTC Sunday is the old week; 00:00 UTC Monday the new one, whatever the local zone.
    sunday_late = record("INC-sun", at(22, 23, 59))
    monday = record("INC-mon", at(23, 0, 0))
    # Written with a +02:00 offset, still Sunday 23:30 UTC.
    local = record("INC-local", datetime.fromisoformat("2026-11-23T01:30:00+02:00"))
    review = build_weekly_review([sunday_late, monday, local], WEEK, SETTINGS)
    assert [i.incident_id for i in review.incidents] == ["INC-mon"]
    assert review.trend[-2].week == "2026-W47" and review.trend[-2].total == 2


def test_counts_by_severity_and_service_and_status() -> None:
    records = [
        record(
            "A", at(23), severity="SEV1", suspect="payments", services=("checkout",), published=True
        ),
        record("B", at(24), severity="SEV2", suspect="payments", services=("storefront",)),
        record("C", at(25), severity="SEV2", suspect="search", decision="request_changes"),
    ]
    review = build_weekly_review(records, WEEK, SETTINGS)
    assert review.by_severity == {"SEV1": 1, "SEV2": 2, "SEV3": 0, "SEV4": 0}
    assert (review.published, review.pending) == (1, 2)
    assert [i.status for i in review.incidents] == ["published", "pending", "changes requested"]
    payments = next(s for s in review.by_service if s.service == "payments")
    assert (payments.top_suspect, payments.affected) == (2, 2)  # significant in both
    assert review.by_service[0].service == "payments"


def test_rejected_drafts_count_nowhere_but_a_note() -> None:
    review = build_weekly_review(
        [record("A", at(23)), record("R", at(24), decision="reject")], WEEK, SETTINGS
    )
    assert [i.incident_id for i in review.incidents] == ["A"]
    assert any("rejected" in w and "R" in w for w in review.warnings)


def test_mttd_from_the_onset_or_window_start_and_mttr_from_the_window_start() -> None:
    records = [
        # Onset 5 min in, detected 15 min in: MTTD 10; resolved after 90 min.
        record(
            "A",
            at(23),
            onset=timedelta(minutes=5),
            detected=timedelta(minutes=15),
            resolved=timedelta(minutes=90),
        ),
        # No onset: MTTD from the window start.
        record("B", at(24), detected=timedelta(minutes=20), resolved=timedelta(minutes=30)),
        record("C", at(25)),  # nothing recorded
    ]
    review = build_weekly_review(records, WEEK, SETTINGS)
    assert [i.mttd_minutes for i in review.incidents] == [10.0, 20.0, None]
    assert [i.mttr_minutes for i in review.incidents] == [90.0, 30.0, None]
    assert review.mttd.count == 2 and review.mttd.missing == 1
    assert review.mttd.median_minutes == 15.0 and review.mttr.mean_minutes == 60.0


def test_a_detection_before_the_onset_is_left_out_with_a_note() -> None:
    bad = record("A", at(23), onset=timedelta(minutes=10), detected=timedelta(minutes=2))
    review = build_weekly_review([bad], WEEK, SETTINGS)
    assert review.incidents[0].mttd_minutes is None and review.mttd.count == 0
    assert any("A: detected_at is before the first onset" in w for w in review.warnings)


def test_recurring_patterns_suspects_and_change_kinds_across_incidents() -> None:
    records = [
        record("OLD", at(2), suspect="payments", patterns=("p-refused",), changes=("deploy",)),
        record(
            "A", at(23), suspect="payments", patterns=("p-refused", "p-once"), changes=("deploy",)
        ),
        record("B", at(24), suspect="search", patterns=("p-refused",), changes=("config",)),
        # Recurs, but only before this week: not this week's business.
        record("X1", at(3), suspect="ledger"),
        record("X2", at(9), suspect="ledger"),
    ]
    review = build_weekly_review(records, WEEK, SETTINGS)
    found = {(r.kind, r.key): r for r in review.recurring}
    assert found[("pattern", "p-refused")].incidents == ["OLD", "A", "B"]
    assert found[("pattern", "p-refused")].this_week == 2
    assert found[("top suspect", "payments")].incidents == ["OLD", "A"]
    assert found[("change kind", "deploy")].incidents == ["OLD", "A"]
    assert ("pattern", "p-once") not in found
    assert ("change kind", "config") not in found
    assert ("top suspect", "ledger") not in found
    assert review.recurring[0].kind == "top suspect"


def test_incidents_older_than_the_trend_do_not_recur() -> None:
    ancient = record("ANCIENT", at(1, month=10), suspect="payments")
    review = build_weekly_review([ancient, record("A", at(23), suspect="payments")], WEEK, SETTINGS)
    assert not [r for r in review.recurring if r.kind == "top suspect"]


def test_open_action_items_by_priority_then_age() -> None:
    records = [
        record("OLD", at(2), actions=(("P2", "Add a canary for deploys"),)),
        record("A", at(26), actions=(("P1", "Alert on pool saturation"), ("P2", "Cap retries"))),
        record("B", at(24), actions=(("P1", "Page on checkout 5xx"),)),
    ]
    review = build_weekly_review(records, WEEK, SETTINGS)
    rows = [(a.priority, a.incident_id, a.age_days) for a in review.action_items]
    # Ages run to the end of the week, Monday 2026-11-30 00:00 UTC.
    assert rows == [("P1", "B", 5), ("P1", "A", 3), ("P2", "OLD", 27), ("P2", "A", 3)]
    assert review.action_items[0].status == "verified"


def test_placeholder_action_items_are_counted_not_listed() -> None:
    rec = record("A", at(24), actions=(("P1", "Page on 5xx"), ("P2", "To be written")))
    rec.verification.placeholders.append("C2")
    review = build_weekly_review([rec], WEEK, SETTINGS)
    assert [a.claim_id for a in review.action_items] == ["C1"]
    assert review.action_items_to_write == 1
    assert "1 more action item(s) are placeholders" in render_weekly(review, at(30))


def test_the_trend_covers_the_four_weeks_before_oldest_first() -> None:
    records = [
        record("W44", at(27, month=10), severity="SEV3"),
        record("W46a", at(10), severity="SEV1", resolved=timedelta(minutes=40)),
        record("W46b", at(11), severity="SEV2", resolved=timedelta(minutes=60)),
        record("W48", at(23)),
        record("W43", at(20, month=10)),  # too old for the trend
    ]
    review = build_weekly_review(records, WEEK, SETTINGS)
    assert [w.week for w in review.trend] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47", WEEK]
    assert [w.total for w in review.trend] == [1, 0, 2, 0, 1]
    assert review.trend[2].by_severity["SEV1"] == 1
    assert review.trend[2].mttr_median_minutes == 50.0


def test_an_empty_week_gives_a_clear_page_with_the_trend(tmp_path: Path) -> None:
    review = build_weekly_review([record("OLD", at(10))], WEEK, SETTINGS)
    text = render_weekly(review, at(30, 9), build_weekly_charts(review))
    assert text.startswith("# Weekly reliability review 2026-W48")
    assert "## No incidents this week" in text
    assert "| 2026-W46 | 1 |" in text
    assert "## Incidents" not in text
    path = write_weekly(review, tmp_path, at(30, 9))
    assert (tmp_path / "charts" / "weekly_counts.svg").is_file()
    assert path.with_suffix(".html").read_text().count("<svg") == 1  # no MTTD/MTTR recorded


def test_the_page_shows_every_section_and_keeps_hostile_text_inert() -> None:
    hostile = "restart <script>alert(1)</script> | then `rm`"
    records = [
        record(
            "A",
            at(23),
            patterns=("p1",),
            actions=(("P1", hostile),),
            detected=timedelta(minutes=3),
            resolved=timedelta(minutes=75),
        ),
        record("B", at(24), patterns=("p1",)),
    ]
    review = build_weekly_review(records, WEEK, SETTINGS)
    charts = build_weekly_charts(review)
    assert [c.name for c in charts] == ["weekly_counts", "weekly_times"]
    text = render_weekly(review, at(30, 9), charts)
    for heading in (
        "## Incidents",
        "## By service",
        "## What recurs",
        "## Open action items",
        "## Trend",
    ):
        assert heading in text
    assert "median 1 h 15 min" in text
    assert "<script>" not in text
    html = render_weekly_html(text, review, charts)
    assert "<script>" not in html and html.count("<svg") == 2
    assert "Weekly reliability review 2026-W48" in html


def test_the_times_chart_keeps_every_week_on_its_axis() -> None:
    review = build_weekly_review(
        [record("A", at(23), resolved=timedelta(minutes=9))], WEEK, SETTINGS
    )
    times = build_weekly_charts(review)[1].svg
    assert all(w.week in times for w in review.trend)


def test_charts_are_deterministic() -> None:
    review = build_weekly_review(
        [record("A", at(23), resolved=timedelta(minutes=9))], WEEK, SETTINGS
    )
    assert [c.svg for c in build_weekly_charts(review)] == [
        c.svg for c in build_weekly_charts(review)
    ]


def write_folder(root: Path, rec: PostmortemRecord, with_spec: bool = True) -> None:
    folder = root / rec.incident_id
    write_model_json(rec.findings, folder / "findings.json")
    if with_spec:
        write_model_json(rec.spec, folder / "spec.json")
    write_model_json(rec.analysis, folder / "analysis.json")
    if rec.publication:
        write_model_json(rec.publication, folder / "published.json")


def test_loader_reads_folders_of_the_horizon_and_tolerates_a_missing_spec(tmp_path: Path) -> None:
    write_folder(tmp_path, record("A", at(23), published=True))
    write_folder(tmp_path, record("B", at(24), severity="SEV1"), with_spec=False)
    write_folder(tmp_path, record("ANCIENT", at(1, month=9)))
    (tmp_path / "weekly").mkdir()  # the review's own folder is not an incident
    (tmp_path / "BROKEN").mkdir()
    (tmp_path / "BROKEN" / "findings.json").write_text("{not json")
    records, problems = load_postmortems(tmp_path, WEEK)
    assert sorted(r.incident_id for r in records) == ["A", "B"]
    assert len(problems) == 1 and "BROKEN/findings.json" in problems[0]
    review = build_weekly_review(records, WEEK, SETTINGS)
    assert [i.status for i in review.incidents] == ["published", "pending"]
    assert [i.severity for i in review.incidents] == ["SEV2", "unknown"]
    assert any("No spec.json" in w and "B" in w for w in review.warnings)


def test_loader_names_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ObjectError, match="no such output folder"):
        load_postmortems(tmp_path / "nope", WEEK)


def test_spec_moments_must_be_aware_and_are_kept_in_utc() -> None:
    base = dict(
        id="X",
        title="t",
        window={"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T11:00:00Z"},
        sources=[{"name": "app", "uri": "s3://logs-bucket/app/"}],
    )
    spec = IncidentSpec.model_validate({**base, "detected_at": "2026-11-23T12:10:00+02:00"})
    assert spec.detected_at == at(23, 10, 10) and spec.resolved_at is None
    with pytest.raises(ValueError, match="timezone"):
        IncidentSpec.model_validate({**base, "resolved_at": "2026-11-23T12:10:00"})


def test_a_monday_morning_run_reviews_the_week_that_just_ended() -> None:
    from flows.weekly_review import last_week

    assert last_week(at(30, 9)) == WEEK  # Monday 2026-11-30 09:00 UTC
    assert last_week(datetime(2027, 1, 4, 9, tzinfo=UTC)) == "2026-W53"


def _edit_review() -> WeeklyReview:
    return build_weekly_review(
        [
            record("A", at(23), resolved=timedelta(minutes=75), actions=(("P1", "Cap retries"),)),
            record("B", at(24), severity="SEV1", detected=timedelta(minutes=12)),
        ],
        WEEK,
        SETTINGS,
    )


def test_an_edit_that_restates_the_pages_figures_passes() -> None:
    review = _edit_review()
    original = render_weekly(review, at(30, 9))
    edited = original + (
        "\nTwo incidents; A took 1 h 15 min (75 minutes) to resolve and B was detected after "
        f"12 min. The P1 item is {review.action_items[0].age_days} days old.\n"
    )
    assert check_edited_weekly(original, edited, review) == []


def test_an_edit_with_a_figure_the_page_lacks_is_named() -> None:
    review = _edit_review()
    original = render_weekly(review, at(30, 9))
    edited = original.replace("## Trend", "37 customers saw errors for 48 minutes.\n\n## Trend")
    warnings = check_edited_weekly(original, edited, review)
    assert [w.split('"')[1] for w in warnings] == ["37", "48 minutes"]
    assert all("no figure in this week's review" in w for w in warnings)
    # Lines the reviewer did not touch are not checked again, however many figures they hold.
    assert check_edited_weekly(original, original, review) == []


def test_an_edit_that_blames_a_person_is_flagged() -> None:
    review = _edit_review()
    original = render_weekly(review, at(30, 9))
    edited = original + "\nThe on-call engineer failed to notice the alert.\n"
    (warning,) = check_edited_weekly(original, edited, review)
    assert "may read as blaming a person" in warning and "failed to notice" in warning
