"""The render stage: the draft postmortem as Markdown and self-contained HTML, from Jinja2 templates."""

from tasks.render._stage import (
    format_number,
    format_percent,
    format_time,
    render_draft,
    render_html,
    template_environment,
    write_draft,
)

__all__ = [
    "format_number",
    "format_percent",
    "format_time",
    "render_draft",
    "render_html",
    "template_environment",
    "write_draft",
]
