"""The prompts as Jinja2 files under templates/prompts/, rendered here and nowhere else."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment

from tasks.render import template_environment


@cache
def _environment() -> Environment:
    # The render stage's environment: the same template folders, and no autoescaping outside
    # .html.j2, so the prompts stay plain text for a model.
    return template_environment()


def render_prompt(name: str, **context: Any) -> str:
    return _environment().get_template(f"prompts/{name}.md.j2").render(**context)
