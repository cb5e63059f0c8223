"""Render the draft postmortem from the stage outputs with Jinja2 templates kept as files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import markdown
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from tasks.contracts import EvidenceManifest, Findings, IncidentSpec, ObjectStatus
from tasks.output import write_atomic

# An editable install reads templates/ at the top of the repository; a wheel ships them as
# tasks/_templates (see pyproject.toml).
_TEMPLATE_DIRS = [
    Path(__file__).resolve().parents[2] / "templates",
    Path(__file__).resolve().parents[1] / "_templates",
]


def template_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader([str(p) for p in _TEMPLATE_DIRS if p.is_dir()]),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["hm"] = _format_time
    env.filters["pct"] = _format_percent
    env.filters["num"] = _format_number
    env.filters["md_cell"] = _markdown_cell
    env.filters["md_code"] = _markdown_code
    return env


def _format_time(value: datetime | None) -> str:
    return "–" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def _format_percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _format_number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def _markdown_cell(value: object, limit: int = 160) -> str:
    """Log text is untrusted: keep it from breaking the table or injecting Markdown/HTML."""
    text = str(value).replace("\n", " ").replace("|", "\\|").replace("`", "'")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _markdown_code(value: object, limit: int = 160) -> str:
    """Text for a `code span` in a table: entities would show literally there, so only the
    characters that can end the span or the cell are neutralised."""
    text = str(value).replace("\n", " ").replace("|", "\\|").replace("`", "'")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cited_objects(findings: Findings, manifest: EvidenceManifest) -> list[dict[str, str]]:
    """The objects behind every evidence ID in the findings, so a reviewer can open the raw line."""
    evidence = [e for p in findings.patterns for e in p.exemplars]
    for group in (findings.onsets, findings.suspects, findings.changes, findings.timeline):
        evidence.extend(e for item in group for e in item.evidence_ids)
    ids = {e.split(":", 1)[0] for e in evidence}
    by_id = manifest.object_by_id()
    return [
        {"object_id": oid, "uri": by_id[oid].uri, "sha256": by_id[oid].sha256 or "–"}
        for oid in sorted(ids)
        if oid in by_id
    ]


def render_draft(
    spec: IncidentSpec,
    findings: Findings,
    manifest: EvidenceManifest,
    generated_at: datetime,
) -> str:
    """The draft postmortem as Markdown."""
    failed = [o for o in manifest.objects if o.status is ObjectStatus.FAILED]
    rejected = [o for o in manifest.objects if o.rejected.total]
    return (
        template_environment()
        .get_template("postmortem.md.j2")
        .render(
            spec=spec,
            findings=findings,
            manifest=manifest,
            stats=manifest.stats,
            failed_objects=failed,
            objects_with_rejects=rejected,
            cited=cited_objects(findings, manifest),
            generated_at=generated_at,
        )
    )


def render_html(draft_markdown: str, spec: IncidentSpec) -> str:
    """The same draft as a standalone page. Log text in the Markdown is already escaped by the
    template's filters, so the converted HTML is trusted as it is."""
    body = markdown.markdown(draft_markdown, extensions=["tables"], output_format="html")
    return (
        template_environment()
        .get_template("postmortem.html.j2")
        .render(spec=spec, body=Markup(body))
    )


def write_draft(text: str, spec: IncidentSpec, out_dir: Path) -> Path:
    """draft.md and draft.html; returns the Markdown's path."""
    write_atomic(out_dir / "draft.html", render_html(text, spec))
    return write_atomic(out_dir / "draft.md", text)


# Public names for the formatters, so other stages (the evidence pack's fact displays) show a
# figure exactly as the draft does.
format_time = _format_time
format_percent = _format_percent
format_number = _format_number
