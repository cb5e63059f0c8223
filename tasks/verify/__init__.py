"""The verify stage: every claim of an analysis checked against the findings and the evidence.

Also the blameless check, used on the AI's text and on a reviewer's edited Markdown.
"""

from tasks.verify._verify import verify_analysis
from tasks.verify.blameless import BlameFinding, find_blame
from tasks.verify.edits import check_edited_draft, check_edited_text

__all__ = [
    "BlameFinding",
    "check_edited_draft",
    "check_edited_text",
    "find_blame",
    "verify_analysis",
]
