"""one_line: a failure's sentence keeps every line of a remote error's message."""

from __future__ import annotations

from tasks.errors import one_line


def test_a_message_over_several_lines_keeps_its_later_lines() -> None:
    exc = RuntimeError("Error during deserialization of the task.\nThis frequently\noccurs if ...")
    assert one_line(exc) == (
        "RuntimeError: Error during deserialization of the task. This frequently occurs if ..."
    )


def test_a_long_message_is_cut_and_an_empty_one_names_the_type() -> None:
    assert one_line(ValueError("x" * 1000), limit=10) == "ValueError: xxxxxxxxxx"
    assert one_line(KeyError()) == "KeyError"
