"""The output folder `<out>/<incident-id>/` and atomic JSON writes into it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


def incident_dir(out_root: Path, incident_id: str) -> Path:
    path = Path(out_root) / incident_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_model_json(model: BaseModel, path: Path) -> Path:
    """Write a stage output as indented JSON; a crash mid-write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(model.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return path
