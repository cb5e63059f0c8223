"""A reviewer's edits get the same scrutiny as the AI's text."""

from __future__ import annotations

from tasks.verify import check_edited_draft
from tests.verify import builder as b

ORIGINAL = "# INC\n\n## Summary\n\nCheckout errors rose after the deploy.\n"


def test_an_edit_that_blames_a_person_is_flagged() -> None:
    edited = ORIGINAL + "\nBob forgot to run the migration.\n"
    warnings = check_edited_draft(ORIGINAL, edited, b.findings())
    assert any("blaming a person" in w and "Bob forgot" in w for w in warnings)


def test_an_edited_figure_the_findings_lack_is_flagged_and_untouched_lines_are_not() -> None:
    findings = b.findings()
    edited = ORIGINAL + "\nAbout 987654 requests failed.\n"
    warnings = check_edited_draft(ORIGINAL, edited, findings)
    assert any('"987654"' in w for w in warnings)
    # The same figure already in the rendered draft is not the reviewer's to answer for.
    assert check_edited_draft(edited, edited, findings) == []


def test_without_findings_only_blame_is_checked() -> None:
    assert check_edited_draft(ORIGINAL, ORIGINAL + "\n12345 things.\n", None) == []
    assert check_edited_draft(ORIGINAL, ORIGINAL + "\nBob forgot to page.\n", None)
