"""A small week for the AI summary tests: two incidents this week, one the week before, a
recurring top suspect and pattern, and one open action item."""

from __future__ import annotations

from datetime import timedelta

from tasks.settings import Settings
from tasks.weekly import WeeklyReview, build_weekly_review
from tests.weekly.test_weekly import WEEK, at, record


def week_review() -> WeeklyReview:
    records = [
        record("INC-OLD", at(18), suspect="payments", patterns=("p-refused",), changes=("deploy",)),
        record(
            "INC-A",
            at(23),
            suspect="payments",
            patterns=("p-refused",),
            changes=("deploy",),
            detected=timedelta(minutes=5),
            resolved=timedelta(minutes=40),
            actions=(("P1", "Add a canary to payments deploys"),),
            published=True,
        ),
        record(
            "INC-B",
            at(25),
            severity="SEV1",
            suspect="payments",
            patterns=("p-refused",),
            detected=timedelta(minutes=9),
            resolved=timedelta(minutes=80),
        ),
    ]
    return build_weekly_review(records, WEEK, Settings())
