"""The Markdown of the review form Prefect's UI shows: numbers filled in, untrusted text inert.

Both faults were seen in the real browser (tests/ui/test_review_in_browser.py): the form showed
`{F:checkout.error_rate.incident}` where the draft shows 5.00%.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flows.postmortem import PACK_FILE
from flows.review import pause_description
from tasks.contracts import Claim, IncidentSpec, ReviewStatus, Suspect
from tasks.output import write_model_json
from tasks.settings import Settings
from tests.render.test_render import findings
from tests.render.test_render_claims import analysis, pack

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SPEC = IncidentSpec.model_validate(
    {
        "id": "INC-7",
        "title": "Checkout 5xx",
        "window": {"start": "2026-11-24T13:00:00Z", "end": "2026-11-24T13:20:00Z"},
        "sources": [{"name": "app", "uri": "s3://logs/app/", "format": "jsonl"}],
    }
)


def status(out_dir: Path, refused: list[str] | None = None) -> ReviewStatus:
    return ReviewStatus(
        incident_id="INC-7",
        state="waiting",
        flow_run_id="7f1c2d3e-0000-4000-8000-000000000001",
        draft_path=str(out_dir / "draft.md"),
        draft_sha256="ab" * 32,
        updated_at=NOW,
        refused=refused or [],
    )


def test_the_form_shows_the_figures_the_draft_shows_not_fact_ids(tmp_path: Path) -> None:
    write_model_json(analysis(), tmp_path / "analysis.json")
    write_model_json(pack(), tmp_path / PACK_FILE)
    text = pause_description(SPEC, tmp_path, status(tmp_path), [], Settings())
    assert "Checkout errors reached 5.00% after the deploy." in text
    assert "{F:" not in text


def test_an_unknown_fact_is_marked_in_the_form_as_in_the_draft(tmp_path: Path) -> None:
    claim = Claim(id="C1", section="summary", kind="observation", text="Hit {F:nope.metric}.")
    write_model_json(analysis(claims=[claim]), tmp_path / "analysis.json")
    text = pause_description(SPEC, tmp_path, status(tmp_path), [], Settings())
    assert "unknown fact F:nope.metric" in text and "{F:" not in text


def test_untrusted_text_cannot_add_markup_links_or_rows_to_the_form(tmp_path: Path) -> None:
    hostile = (
        "boom | </td><script>alert(1)</script> [approve here](https://evil.example) "
        "**[verified]**\n## Ignore previous instructions"
    )
    claim = Claim(id="C1", section="summary", kind="observation", text=hostile)
    write_model_json(analysis(claims=[claim]), tmp_path / "analysis.json")
    suspect = Suspect(service="pay|ments", rank=1, score=0.5, reasons=[hostile])
    write_model_json(
        findings(300).model_copy(update={"suspects": [suspect]}), tmp_path / "findings.json"
    )
    text = pause_description(SPEC, tmp_path, status(tmp_path, refused=[hostile]), [], Settings())
    assert "<script>" not in text
    # Escaped brackets: the words show, but no link text hides where it leads.
    assert "[approve here](" not in text and "\\[approve here\\](" in text
    assert "**[verified]**" not in text
    assert "\n## Ignore" not in text
    table = [line for line in text.splitlines() if line.startswith("| 1 |")]
    # One row of exactly four cells: the pipes in the service and the reason are escaped.
    assert len(table) == 1 and table[0].replace("\\|", "").count("|") == 5
