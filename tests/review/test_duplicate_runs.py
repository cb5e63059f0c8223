"""Which of several live runs for one incident goes on: the rule behind
`refuse_a_second_live_run`, on plain FlowRun objects (the flow-level refusal is in
test_review_flow.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.schemas.objects import FlowRun

from flows.review import first_earlier_run

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=72)  # the review timeout


def _run(n: int, created: datetime | None) -> FlowRun:
    return FlowRun(id=UUID(int=n), flow_id=UUID(int=99), name=f"review-INC-1-{n}", created=created)


def test_of_two_runs_created_in_the_same_instant_exactly_one_goes_on() -> None:
    a, b = _run(1, NOW), _run(2, NOW)
    runs = [a, b]
    # Each asks about the other: the lower run ID goes on, the higher one stops.
    assert first_earlier_run(runs, str(a.id), NOW, SINCE) is None
    assert first_earlier_run(runs, str(b.id), NOW, SINCE) is a


def test_the_earliest_created_run_goes_on_whatever_the_ids() -> None:
    early, late = _run(9, NOW - timedelta(minutes=1)), _run(1, NOW)
    runs = [late, early]
    assert first_earlier_run(runs, str(late.id), NOW, SINCE) is early
    assert first_earlier_run(runs, str(early.id), early.created, SINCE) is None


def test_a_run_older_than_the_review_timeout_no_longer_counts() -> None:
    stale = _run(1, SINCE - timedelta(seconds=1))  # left RUNNING by a process that died
    at_cut = _run(2, SINCE)
    me = _run(3, NOW)
    assert first_earlier_run([stale, me], str(me.id), NOW, SINCE) is None
    assert first_earlier_run([stale, at_cut, me], str(me.id), NOW, SINCE) is at_cut
    # A run without a creation time is not taken for an earlier one.
    assert first_earlier_run([_run(4, None), me], str(me.id), NOW, SINCE) is None
