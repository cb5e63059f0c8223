"""A reviewer's edited draft, checked like the AI's text: blame, and figures the findings lack.

Only the lines the reviewer added or changed are checked for figures: the rest of the draft was
rendered from the findings. Blaming wording is looked for everywhere, since an edit can make an
old sentence read differently.
"""

from __future__ import annotations

import difflib

from tasks.contracts import Findings
from tasks.verify._numbers import NumberPool, findings_numbers, literal_numbers, number_matches
from tasks.verify.blameless import find_blame


def added_lines(original: str, edited: str) -> list[str]:
    """Lines of `edited` that are not in `original`, in order."""
    diff = difflib.ndiff(original.splitlines(), edited.splitlines())
    return [line[2:] for line in diff if line.startswith("+ ")]


def check_edited_draft(original: str, edited: str, findings: Findings | None) -> list[str]:
    """One warning per problem, each naming the line's text, for the reviewer to see."""
    return check_edited_text(
        original,
        edited,
        findings_numbers(findings) if findings else None,
        [s.service for s in findings.services] if findings else [],
        figures="the findings",
    )


def check_edited_text(
    original: str, edited: str, pool: NumberPool | None, services: list[str], figures: str
) -> list[str]:
    """Blaming wording anywhere in `edited`, and figures in its added lines that are not in
    `pool` (no figure check without one). `figures` names the pool in the warnings."""
    warnings = [
        f'"{b.sentence[:160]}" may read as blaming a person ({b.phrase}): {b.suggestion}'
        for b in find_blame(edited, services)
    ]
    if pool is None:
        return warnings
    for line in added_lines(original, edited):
        for literal in literal_numbers(line):
            if not number_matches(literal, pool):
                warnings.append(
                    f'The edit writes "{literal.text}" ("{line.strip()[:120]}"), which matches '
                    f"no figure in {figures}."
                )
    return warnings
