"""Static SVG charts for the draft: error rate, p95 latency and log volume per service over time.

Each chart overlays the incident on its first baseline window (aligned by minute), and marks
onsets and change events, so a reader sees at a glance what moved, when, and against what
normal looks like. The SVGs are written beside draft.md (a Markdown viewer shows them) and
inlined into draft.html. They are deterministic: the same findings give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from tasks.contracts import Findings, MinuteSeries
from tasks.output import write_atomic

CHART_DIR = "charts"
_INCIDENT = "#c0392b"
_BASELINE = "#7f8c8d"
_ONSET = "#8e44ad"
_CHANGE = "#2471a3"

# Shared with the weekly review's charts, so every chart looks and serialises the same way.
STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, searchable
    "svg.hashsalt": "postmortem-flows",  # stable element IDs, so identical findings give identical SVG
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
}


@dataclass(frozen=True)
class Chart:
    name: str  # file stem: error_rate, latency, volume
    title: str
    alt: str  # what the chart shows, for readers who can't see it
    svg: str

    @property
    def filename(self) -> str:
        return f"{CHART_DIR}/{self.name}.svg"


def build_charts(findings: Findings) -> list[Chart]:
    """The charts the findings support; none when there is no per-minute data."""
    pairs = _paired(findings.series)
    if not pairs:
        return []
    charts = [
        _chart(findings, pairs, "error_rate", "Error rate (share of lines)", _error_rate),
        _chart(findings, pairs, "volume", "Log lines per minute", lambda s: s.lines),
    ]
    if any(v is not None for inc, _ in pairs.values() for v in inc.p95_latency_ms):
        charts.insert(1, _chart(findings, pairs, "latency", "p95 latency (ms)", _p95))
    return charts


def write_charts(charts: list[Chart], out_dir: Path) -> list[Path]:
    return [write_atomic(Path(out_dir) / c.filename, c.svg) for c in charts]


def _paired(series: list[MinuteSeries]) -> dict[str, tuple[MinuteSeries, MinuteSeries | None]]:
    incident = {s.service: s for s in series if s.window == "incident"}
    baseline = {s.service: s for s in series if s.window == "baseline"}
    return {name: (s, baseline.get(name)) for name, s in incident.items()}


def _error_rate(s: MinuteSeries) -> list[float | None]:
    return [e / n if n else None for e, n in zip(s.errors, s.lines, strict=True)]


def _p95(s: MinuteSeries) -> list[float | None]:
    return list(s.p95_latency_ms)


def _chart(
    findings: Findings,
    pairs: dict[str, tuple[MinuteSeries, MinuteSeries | None]],
    name: str,
    title: str,
    values: Callable[[MinuteSeries], list[float | None]],
) -> Chart:
    services = list(pairs)
    # Figure, not pyplot: no global figure registry and no display backend, safe in threads.
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.5, 1.35 * len(services) + 0.6))
        axes = fig.subplots(len(services), 1, sharex=True, squeeze=False)
        for ax, service in zip(axes[:, 0], services, strict=True):
            incident, baseline = pairs[service]
            _panel(ax, findings, service, incident, baseline, values, name == "error_rate")
        axes[-1, 0].set_xlabel(
            f"minutes from the incident start ({_hm(findings.windows.incident.start)})"
        )
        _legend(fig, axes[:, 0])
        svg = figure_svg(fig, title, top=0.97)
    alt = (
        f"{title} per minute for {', '.join(services)}: incident (solid) against baseline (dashed)"
    )
    return Chart(name=name, title=title, alt=alt, svg=svg)


def figure_svg(fig: Figure, title: str, top: float) -> str:
    """The figure, titled at the top left, as inline SVG with no date in it (same data, same
    bytes). Call it inside `matplotlib.rc_context(STYLE)`: the SVG settings apply when saving."""
    fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, top))
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _strip_xml_header(buffer.getvalue())


def _panel(
    ax: Axes,
    findings: Findings,
    service: str,
    incident: MinuteSeries,
    baseline: MinuteSeries | None,
    values: Callable[[MinuteSeries], list[float | None]],
    percent: bool,
) -> None:
    minutes = list(range(len(incident.lines)))
    ax.plot(minutes, _nan(values(incident)), color=_INCIDENT, lw=1.4, label="incident")
    if baseline is not None:
        ax.plot(
            minutes,
            _nan(values(baseline))[: len(minutes)],
            color=_BASELINE,
            lw=1.0,
            ls="--",
            label="baseline",
        )
    start = findings.windows.incident.start
    for onset in findings.onsets:
        if onset.service == service:
            ax.axvline(_offset(onset.at, start), color=_ONSET, lw=1.0, label="onset")
    for change in findings.changes:
        if change.service == service and 0 <= _offset(change.at, start) <= len(minutes):
            ax.axvline(_offset(change.at, start), color=_CHANGE, lw=1.0, ls=":", label="change")
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(bottom=0)
    ax.set_title(service, loc="left")
    ax.set_xlim(0, max(1, len(minutes) - 1))
    ax.margins(y=0.15)
    ax.tick_params(labelsize=7)


def _legend(fig: Figure, axes: list[Axes]) -> None:
    """One legend for the figure, each kind of line once."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(
        list(seen.values()),
        list(seen),
        loc="upper right",
        ncols=len(seen),
        fontsize=7,
        frameon=False,
    )


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def _offset(at: datetime, start: datetime) -> float:
    return (at - start) / timedelta(minutes=1)


def _hm(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M}Z"


def _strip_xml_header(svg: str) -> str:
    """Inline SVG in HTML must not carry an XML declaration or a DOCTYPE."""
    start = svg.find("<svg")
    return svg[start:] if start > 0 else svg
