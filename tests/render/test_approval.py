"""The published copy says who approved it, where the draft said it awaited review."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.contracts import ReviewRecord
from tasks.render import render_html
from tasks.render.approval import stamp_html, stamp_markdown
from tests.render.test_render import SPEC
from tests.render.test_render_claims import draft

REVIEW = ReviewRecord(
    incident_id="INC-7",
    decision="approve",
    reviewer="dana <script>",
    decided_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
    draft_sha256="ab" * 32,
    round=2,
)


def test_markdown_and_html_copies_carry_the_approval_instead_of_the_draft_banner() -> None:
    text = draft()
    stamped = stamp_markdown(text, REVIEW)
    assert "Draft, awaiting review" not in stamped
    assert "**Reviewed and approved** by dana &lt;script&gt; at 2026-11-25 09:30:00Z" in stamped
    assert "(review round 2)" in stamped and "ab" * 32 in stamped
    # Only the banner changed: everything after it is the approved text.
    assert stamped.split("## Summary", 1)[1] == text.split("## Summary", 1)[1]

    html = stamp_html(render_html(text, SPEC), REVIEW)
    assert "Draft, awaiting review" not in html
    assert '<blockquote class="approved">' in html
    assert "dana &lt;script&gt;" in html and "dana <script>" not in html
