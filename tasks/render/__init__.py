"""The render stage: the draft postmortem as Markdown and self-contained HTML, from Jinja2 templates."""

from tasks.render._stage import bare_draft, render_draft, render_html, write_draft
from tasks.render.charts import build_charts

__all__ = ["bare_draft", "build_charts", "render_draft", "render_html", "write_draft"]
