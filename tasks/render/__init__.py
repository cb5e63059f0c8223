"""The render stage: the draft postmortem as Markdown and self-contained HTML, from Jinja2 templates."""

from tasks.render._stage import (
    BlameNote,
    bare_draft,
    format_number,
    format_percent,
    format_time,
    html_body,
    markdown_inline,
    render_draft,
    render_html,
    template_environment,
    write_draft,
)
from tasks.render.charts import build_charts

__all__ = [
    "BlameNote",
    "bare_draft",
    "build_charts",
    "format_number",
    "format_percent",
    "format_time",
    "html_body",
    "markdown_inline",
    "render_draft",
    "render_html",
    "template_environment",
    "write_draft",
]
