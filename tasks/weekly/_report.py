"""weekly_review.md and .html with trend charts, in the postmortem draft's style."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import matplotlib
from markupsafe import Markup
from matplotlib.figure import Figure

from tasks.output import write_atomic
from tasks.render import html_body, template_environment
from tasks.render.charts import STYLE, Chart, figure_svg, write_charts
from tasks.weekly._review import SEVERITIES, WeeklyReview

_SEVERITY_COLOURS = {
    "SEV1": "#922b21",
    "SEV2": "#c0392b",
    "SEV3": "#e67e22",
    "SEV4": "#f4d03f",
    "unknown": "#7f8c8d",
}
_MTTD = "#8e44ad"
_MTTR = "#2471a3"


def build_weekly_charts(review: WeeklyReview) -> list[Chart]:
    """Incidents per week by severity, and median MTTD/MTTR per week when any were recorded."""
    charts = [_counts_chart(review)]
    if any(
        w.mttd_median_minutes is not None or w.mttr_median_minutes is not None for w in review.trend
    ):
        charts.append(_times_chart(review))
    return charts


def _counts_chart(review: WeeklyReview) -> Chart:
    weeks = [w.week for w in review.trend]
    levels = [
        s for s in (*SEVERITIES, "unknown") if any(w.by_severity.get(s) for w in review.trend)
    ]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.5, 2.6))
        ax = fig.subplots()
        bottom = [0] * len(weeks)
        for level in levels:
            values = [w.by_severity.get(level, 0) for w in review.trend]
            ax.bar(
                weeks, values, bottom=bottom, color=_SEVERITY_COLOURS[level], label=level, width=0.6
            )
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        for x, total in enumerate(bottom):
            ax.annotate(str(total), (x, total), ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, max([*bottom, 1]) * 1.25)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("incidents")
        ax.tick_params(labelsize=8)
        if levels:
            ax.legend(loc="upper left", ncols=len(levels), fontsize=7, frameon=False)
        svg = figure_svg(fig, "Incidents per week, by severity", top=0.95)
    alt = "Incidents per week by severity: " + ", ".join(
        f"{w.week} {w.total}" for w in review.trend
    )
    return Chart(name="weekly_counts", title="Incidents per week, by severity", alt=alt, svg=svg)


def _times_chart(review: WeeklyReview) -> Chart:
    weeks = [w.week for w in review.trend]
    nan = float("nan")
    mttd = [nan if w.mttd_median_minutes is None else w.mttd_median_minutes for w in review.trend]
    mttr = [nan if w.mttr_median_minutes is None else w.mttr_median_minutes for w in review.trend]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.5, 2.4))
        ax = fig.subplots()
        # Positions, not category names: weeks without a value must keep their place on the axis.
        x = list(range(len(weeks)))
        ax.plot(x, mttd, marker="o", color=_MTTD, label="MTTD (median)")
        ax.plot(x, mttr, marker="s", color=_MTTR, label="MTTR (median)")
        ax.set_xticks(x, weeks)
        ax.set_xlim(-0.5, len(weeks) - 0.5)
        ax.set_ylim(bottom=0)
        ax.margins(y=0.2)
        ax.set_ylabel("minutes")
        ax.tick_params(labelsize=8)
        ax.legend(loc="upper left", ncols=2, fontsize=7, frameon=False)
        svg = figure_svg(fig, "Time to detect and to resolve", top=0.95)
    alt = "Median minutes to detect and to resolve per week: " + ", ".join(
        f"{w.week} {_m(w.mttd_median_minutes)}/{_m(w.mttr_median_minutes)}" for w in review.trend
    )
    return Chart(name="weekly_times", title="Time to detect and to resolve", alt=alt, svg=svg)


def _m(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _minutes(value: float | None) -> str:
    """Minutes as a person reads them: 42 min, 3 h 05 min."""
    if value is None:
        return "–"
    total = round(value)
    if total < 60:
        return f"{total} min"
    return f"{total // 60} h {total % 60:02d} min"


def render_weekly(
    review: WeeklyReview,
    generated_at: datetime,
    charts: list[Chart] | None = None,
    *,
    awaiting_review: bool = False,
) -> str:
    """The page's Markdown; `awaiting_review` opens it with the draft banner that an approval
    replaces (tasks/render/approval.py)."""
    env = template_environment()
    env.filters["minutes"] = _minutes
    return env.get_template("weekly_review.md.j2").render(
        review=review,
        generated_at=generated_at,
        charts=charts or [],
        severities=SEVERITIES,
        awaiting_review=awaiting_review,
    )


def render_weekly_html(text: str, review: WeeklyReview, charts: list[Chart] | None = None) -> str:
    """One self-contained page; the Markdown's text is already escaped by the template filters."""
    return (
        template_environment()
        .get_template("weekly_review.html.j2")
        .render(review=review, body=Markup(html_body(text, charts or [])))
    )


def write_weekly(
    review: WeeklyReview, out_dir: Path, generated_at: datetime, *, awaiting_review: bool = False
) -> Path:
    """weekly_review.md, its charts beside it, weekly_review.html and weekly_review.json."""
    out_dir = Path(out_dir)
    charts = build_weekly_charts(review)
    text = render_weekly(review, generated_at, charts, awaiting_review=awaiting_review)
    write_charts(charts, out_dir)
    write_atomic(out_dir / "weekly_review.json", review.model_dump_json(indent=2))
    write_atomic(out_dir / "weekly_review.html", render_weekly_html(text, review, charts))
    return write_atomic(out_dir / "weekly_review.md", text)
