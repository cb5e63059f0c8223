"""The weekly flow: load one ISO week of postmortems, compute the review, render it.

It wires the steps; the logic lives in tasks/weekly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.postmortem import artifact_key
from tasks.settings import Settings, load_settings
from tasks.weekly import (
    WeeklyReview,
    build_weekly_review,
    iso_week,
    load_postmortems,
    write_weekly,
)

WEEKLY_DIR = "weekly"


def last_week(now: datetime) -> str:
    """The ISO week before `now`: a Monday-morning run reviews the week that just ended."""
    return iso_week(now.astimezone(UTC) - timedelta(days=7))


@task(name="weekly-review")
def weekly_stage(week: str, root: Path, settings: Settings) -> WeeklyReview:
    records, problems = load_postmortems(root, week)
    review = build_weekly_review(records, week, settings)
    return review.model_copy(update={"warnings": [*review.warnings, *problems]})


@flow(name="weekly-review", flow_run_name="weekly-{week}")
def weekly_review(
    week: str | None = None, settings: Settings | None = None, root: Path | None = None
) -> Path:
    """Write `<root>/weekly/<week>/weekly_review.md` (and .html, charts, .json); returns the .md.

    `week` defaults to last week; `root` to settings.out_dir, where the drafts are.
    """
    settings = settings or load_settings()
    week = week or last_week(datetime.now(UTC))
    root = Path(root or settings.out_dir)
    review = weekly_stage(week, root, settings)
    path = write_weekly(review, root / WEEKLY_DIR / review.week, datetime.now(UTC))
    create_markdown_artifact(
        key=artifact_key("weekly", review.week),
        markdown=path.read_text(encoding="utf-8"),
        description=f"Weekly reliability review {review.week} (not reviewed)",
    )
    return path
