"""The render stage: the draft postmortem as Markdown and self-contained HTML, from Jinja2 templates."""

from tasks.render._stage import render_draft, render_html, write_draft

__all__ = ["render_draft", "render_html", "write_draft"]
