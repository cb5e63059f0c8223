"""The prompts as Jinja2 files under templates/prompts/, rendered here and nowhere else."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

# The same two places the render stage looks: templates/ in a checkout, tasks/_templates in a wheel.
_TEMPLATE_DIRS = [
    Path(__file__).resolve().parents[2] / "templates",
    Path(__file__).resolve().parents[1] / "_templates",
]


@cache
def _environment() -> Environment:
    # Prompts are plain text for a model, not HTML: no autoescaping.
    return Environment(
        loader=FileSystemLoader([str(p) for p in _TEMPLATE_DIRS if p.is_dir()]),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_prompt(name: str, **context: Any) -> str:
    return _environment().get_template(f"prompts/{name}.md.j2").render(**context)
