"""The weekly reliability review: one page per ISO week over the published and pending postmortems."""

from tasks.weekly._edits import check_edited_weekly
from tasks.weekly._load import load_postmortems
from tasks.weekly._report import (
    build_weekly_charts,
    render_weekly,
    render_weekly_html,
    write_weekly,
)
from tasks.weekly._review import (
    PostmortemRecord,
    WeeklyReview,
    build_weekly_review,
    iso_week,
    week_bounds,
)
from tasks.weekly._summary import summarise_week
from tasks.weekly._themes import WeeklySummary

__all__ = [
    "PostmortemRecord",
    "WeeklyReview",
    "WeeklySummary",
    "build_weekly_charts",
    "build_weekly_review",
    "check_edited_weekly",
    "iso_week",
    "load_postmortems",
    "render_weekly",
    "render_weekly_html",
    "summarise_week",
    "week_bounds",
    "write_weekly",
]
