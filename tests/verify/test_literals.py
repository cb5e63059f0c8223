"""What the verifier reads as a figure or a time in a claim's text."""

from __future__ import annotations

from datetime import time

from tasks.verify._numbers import Literal, literal_numbers, written_times


def test_figures_are_read_with_their_unit_and_precision() -> None:
    text = (
        "Errors rose to 12.4%, 3.1x the baseline; p95 2.5 s; about 300 errors; 1,204 lines; 1.2k."
    )
    assert literal_numbers(text) == [
        Literal("12.4%", 12.4, "%", 0.05),
        Literal("3.1x", 3.1, "x", 0.05),
        Literal("2.5 s", 2.5, "s", 0.05),
        Literal("300", 300.0, "", 50.0),
        Literal("1,204", 1204.0, "", 0.5),
        Literal("1.2k", 1200.0, "", 50.0),
    ]


def test_references_identifiers_and_prose_counts_are_not_figures() -> None:
    text = (
        "See {F:checkout.error_rate.incident} in o1a2b3c4d:17 and pattern p0123456789; "
        'v2.3.1 on 10.0.0.12, 5xx from 3 pods, logged "retry 42 of 50" on 2026-11-24.'
    )
    assert literal_numbers(text) == []


def test_plural_statuses_are_not_seconds() -> None:
    assert literal_numbers("checkout returned 503s") == [Literal("503s", 503.0, "", 0.5)]


def test_times_are_read_as_timestamps_or_times_of_day() -> None:
    found = written_times("From 2026-11-24T13:05:00Z; errors at 13:04Z, 13:05 UTC and 9:41:07.")
    assert [(w.at is not None, w.clock, w.has_seconds) for w in found] == [
        (True, None, True),
        (False, time(13, 4), False),
        (False, time(13, 5), False),
        (False, time(9, 41, 7), True),
    ]
    assert written_times("{F:checkout.onset}") == []
