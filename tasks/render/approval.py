"""The published copy carries its approval where the draft carried its warning.

`draft.md` itself is never changed after approval (its sha256 is what was approved); the
published `postmortem.md` and `postmortem.html` are the same text with the "Draft, awaiting
review" banner replaced by who approved it, when, and which draft.
"""

from __future__ import annotations

import re

from markupsafe import escape

from tasks.contracts import ReviewRecord

_MD_BANNER = re.compile(r"^> \*\*Draft, awaiting review\..*?(?=^(?!>))", re.M | re.S)
_HTML_BANNER = re.compile(
    r"<blockquote>\s*<p><strong>Draft, awaiting review\..*?</blockquote>", re.S
)


def _when(review: ReviewRecord) -> str:
    return f"{review.decided_at:%Y-%m-%d %H:%M:%S}Z"


def stamp_markdown(markdown: str, review: ReviewRecord) -> str:
    banner = (
        f"> **Reviewed and approved** by {escape(review.reviewer)} at {_when(review)} "
        f"(review round {review.round}). The approval covers the draft with sha256 "
        f"`{review.draft_sha256}`.\n"
    )
    return _MD_BANNER.sub(lambda _: banner, markdown, count=1)


def stamp_html(html: str, review: ReviewRecord) -> str:
    banner = (
        f'<blockquote class="approved"><p><strong>Reviewed and approved</strong> by '
        f"{escape(review.reviewer)} at {_when(review)} (review round {review.round}). The "
        f"approval covers the draft with sha256 <code>{review.draft_sha256}</code>.</p>"
        "</blockquote>"
    )
    return _HTML_BANNER.sub(lambda _: banner, html, count=1)
