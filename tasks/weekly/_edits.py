"""A reviewer's edit of the weekly page, checked like an edited postmortem draft.

Figures the edit adds must be figures of the page: the review's aggregates (the facts the AI
summary may cite) and every number in its tables (an incident's window, an action item's age,
a grounding rate written as a percentage). Blaming wording is looked for everywhere.
"""

from __future__ import annotations

from typing import Any

from tasks.verify import check_edited_text
from tasks.verify._numbers import NumberPool
from tasks.weekly._review import WeeklyReview
from tasks.weekly._summary import number_pool, weekly_facts

# Fields the page shows as percentages of a fraction.
_FRACTION_KEYS = {"grounding_rate"}


def page_numbers(review: WeeklyReview) -> NumberPool:
    """Every figure the weekly page shows, with minutes also as durations."""
    pool = number_pool(weekly_facts(review))
    values, durations, fractions = list(pool.values), list(pool.durations_s), list(pool.fractions)
    # The summary's themes are checked when they are written; the warnings are the tool's words.
    page = review.model_dump(mode="python", exclude={"summary", "warnings"})
    for key, value in _numbers_in(page, None):
        values.append(value)
        if key in _FRACTION_KEYS:
            fractions.append(value)
        elif key is not None and key.endswith("minutes"):
            durations.append(value * 60)
            # The page writes 75 minutes as "1 h 15 min": the parts are its figures too.
            hours, rest = divmod(round(value), 60)
            values.append(float(hours))
            durations.append(rest * 60.0)
    return NumberPool(values=values, durations_s=durations, fractions=fractions)


def _numbers_in(value: Any, key: str | None) -> list[tuple[str | None, float]]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [(key, float(value))]
    if isinstance(value, dict):
        return [n for k, item in value.items() for n in _numbers_in(item, k)]
    if isinstance(value, list | tuple):
        return [n for item in value for n in _numbers_in(item, key)]
    return []


def check_edited_weekly(original: str, edited: str, review: WeeklyReview) -> list[str]:
    """One warning per problem in a reviewer's edit of the page, each naming the line's text."""
    services = sorted({s.service for s in review.by_service})
    return check_edited_text(original, edited, page_numbers(review), services, "this week's review")
