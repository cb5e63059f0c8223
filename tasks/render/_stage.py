"""Render the draft postmortem from the stage outputs with Jinja2 templates kept as files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import markdown
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from tasks.contracts import (
    Analysis,
    EvidenceManifest,
    EvidencePack,
    Findings,
    IncidentSpec,
    ObjectStatus,
    ServiceStats,
    StageFailure,
    Verification,
)
from tasks.output import write_atomic
from tasks.render.charts import Chart, write_charts
from tasks.render.claims import STATUS_LABELS, claim_views

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
    env.filters["hm"] = format_time
    env.filters["pct"] = format_percent
    env.filters["num"] = format_number
    env.filters["md_cell"] = _markdown_cell
    env.filters["md_code"] = _markdown_code
    return env


# The template filters, public so other stages (the evidence pack's fact displays) show a figure
# exactly as the draft does.
def format_time(value: datetime | None) -> str:
    return "–" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def format_percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def format_number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


# `*` always, `_` where it could open or close emphasis (not inside a word, as in snake_case).
_EMPHASIS = re.compile(r"\*|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _markdown_cell(value: object, limit: int = 160) -> str:
    """Log text is untrusted: keep it from breaking the table or injecting Markdown/HTML, and
    from emphasis, so that no text can pass itself off as a status badge (`**[verified]**`)."""
    text = _one_cell(value).replace("<", "&lt;").replace(">", "&gt;")
    text = _EMPHASIS.sub(lambda m: "\\" + m[0], text)
    return _clip(text, limit)


def markdown_inline(value: object, limit: int = 1000) -> str:
    """Untrusted text (log lines, model output) as one inert line of Markdown, for Markdown built
    outside the templates (the review form Prefect's UI renders). Brackets are escaped too, so
    no text can make itself a link ("[approve here](https://...)")."""
    return _markdown_cell(value, limit).replace("[", "\\[").replace("]", "\\]")


def _markdown_code(value: object, limit: int = 160) -> str:
    """Text for a `code span` in a table: entities would show literally there, so only the
    characters that can end the span or the cell are neutralised."""
    return _clip(_one_cell(value), limit)


def _one_cell(value: object) -> str:
    return str(value).replace("\n", " ").replace("|", "\\|").replace("`", "'")


def _clip(text: str, limit: int) -> str:
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


@dataclass(frozen=True)
class Banner:
    title: str
    text: str


@dataclass(frozen=True)
class BlameNote:
    """Wording that may read as blaming a person, shown as a warning with a hint."""

    excerpt: str
    where: str  # "the analyst's summary", "the reviewer's edit"…
    hint: str


def analyst_line(analysis: Analysis | None) -> str:
    if analysis is None:
        return "none: no analysis ran"
    if analysis.analyst == "offline":
        return "offline: deterministic rules over the findings, no AI"
    backend = "Claude on Bedrock" if analysis.analyst == "bedrock" else "Claude"
    return f"{backend} ({analysis.model or 'model unknown'})"


def analyst_banners(analysis: Analysis | None) -> list[Banner]:
    """What a reader must know about the analyst before trusting a word of its text."""
    if analysis is None:
        return []
    banners = []
    if analysis.fallback_reason:
        banners.append(
            Banner(
                "The AI analyst was not available.",
                f"{analysis.fallback_reason} This draft uses the offline analysis, written from "
                "the findings alone; re-run the AI stage with `postmortem draft --reanalyze` "
                "once the model is back.",
            )
        )
    elif analysis.analyst == "offline":
        banners.append(
            Banner(
                "Offline analysis.",
                "No AI was used: the statements below are written by deterministic rules from "
                "the findings, and sections they cannot support are left for the responders.",
            )
        )
    if analysis.health.degraded and not analysis.fallback_reason:
        banners.append(
            Banner(
                "The AI analyst was degraded during this analysis.",
                "; ".join(analysis.health.reasons) + ". Treat its statements with extra care, "
                "or re-run the AI stage after recovery.",
            )
        )
    if analysis.self_analysis_services:
        names = ", ".join(analysis.self_analysis_services)
        banners.append(
            Banner(
                "The AI analysed an incident in its own dependencies.",
                f"The findings implicate {names}, which the analyst itself depends on; its "
                "causal statements about them need a person to confirm.",
            )
        )
    return banners


def impacted_services(findings: Findings, limit: int = 8) -> list[ServiceStats]:
    """The services a reader of the impact section needs: significant ones, then the largest rises."""
    ranked = sorted(
        (s for s in findings.services if s.incident_lines),
        key=lambda s: (not s.significant, -(s.error_rate.delta or 0.0)),
    )
    return ranked[:limit]


def render_draft(
    spec: IncidentSpec,
    findings: Findings,
    manifest: EvidenceManifest,
    generated_at: datetime,
    failures: list[StageFailure] | None = None,
    *,
    analysis: Analysis | None = None,
    verification: Verification | None = None,
    pack: EvidencePack | None = None,
    charts: list[Chart] | None = None,
    blame: list[BlameNote] | None = None,
) -> str:
    """The draft postmortem as Markdown: every section an SRE team expects, AI statements with
    their verification status, numbers from the findings only."""
    failed = [
        o for o in manifest.objects if o.status in (ObjectStatus.FAILED, ObjectStatus.PARTIAL)
    ]
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
            failures=failures or [],
            analysis=analysis,
            verification=verification,
            pack=pack,
            claims=claim_views(analysis, verification, pack),
            analyst_line=analyst_line(analysis),
            analyst_banners=analyst_banners(analysis),
            impacted=impacted_services(findings),
            charts=charts or [],
            blame=blame or [],
        )
    )


def bare_draft(spec: IncidentSpec, failures: list[StageFailure]) -> str:
    """The draft when rendering itself failed: no template, just what a reader must know."""
    lines = [
        f"# {spec.id}: {spec.title}",
        "",
        "> **DRAFT: not reviewed, not published.** The full draft could not be rendered.",
        "",
        "## Stages that failed",
        "",
        *(f"- **{f.stage}**: {f.cause}" for f in failures),
        "",
        "The findings so far are in `findings.json` and the evidence in `evidence/`.",
        "",
    ]
    return "\n".join(lines)


def render_html(draft_markdown: str, spec: IncidentSpec, charts: list[Chart] | None = None) -> str:
    """The same draft as one self-contained page: inline CSS and SVG, nothing fetched.

    Log text in the Markdown is already escaped by the template's filters, so the converted HTML
    is trusted as it is. Chart images become the inline SVG they point at.
    """
    body = _status_badges(html_body(draft_markdown, charts or []))
    return (
        template_environment()
        .get_template("postmortem.html.j2")
        .render(spec=spec, body=Markup(body))
    )


def html_body(text: str, charts: list[Chart]) -> str:
    """A page rendered from a Markdown template as HTML, each chart's image its inline SVG."""
    body = markdown.markdown(text, extensions=["tables"], output_format="html")
    body = _inline_charts(body, charts)
    # Wide tables scroll inside their own box on a phone instead of widening the page.
    return body.replace("<table>", '<div class="table"><table>').replace(
        "</table>", "</table></div>"
    )


# The badge colour of each verification status; the text is the status's label in the Markdown.
_BADGES = {
    "verified": "ok",
    "unsupported": "bad",
    "contradicted": "bad",
    "unverified": "ask",
    "for the responders": "todo",
    "not checked": "ask",
}


def _status_badges(body: str) -> str:
    """Each statement's status as a coloured badge, so a reader scanning the page sees it."""
    for status, kind in _BADGES.items():
        label = STATUS_LABELS.get(status, status)
        body = body.replace(
            f"<strong>[{label}]</strong>", f'<strong class="status {kind}">{label}</strong>'
        )
    return body


def _inline_charts(body: str, charts: list[Chart]) -> str:
    for chart in charts:
        image = re.search(rf'<p><img alt="[^"]*" src="{re.escape(chart.filename)}" ?/?></p>', body)
        if image:
            figure = (
                f'<figure class="chart" role="img" aria-label="{escape(chart.alt)}">'
                f"{chart.svg}<figcaption>{escape(chart.title)}</figcaption></figure>"
            )
            body = body[: image.start()] + figure + body[image.end() :]
    return body


def write_draft(
    text: str, spec: IncidentSpec, out_dir: Path, charts: list[Chart] | None = None
) -> Path:
    """draft.md, its charts as SVG files beside it, and draft.html; returns the Markdown's path."""
    write_charts(charts or [], out_dir)
    write_atomic(out_dir / "draft.html", render_html(text, spec, charts))
    return write_atomic(out_dir / "draft.md", text)
