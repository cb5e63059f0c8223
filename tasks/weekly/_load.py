"""Read the incident folders under an output root into PostmortemRecords for a weekly review."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from tasks.contracts import (
    Analysis,
    EvidencePack,
    Findings,
    IncidentSpec,
    Publication,
    ReviewRecord,
    Verification,
)
from tasks.errors import ObjectError
from tasks.weekly._review import PostmortemRecord, previous_weeks, week_bounds

M = TypeVar("M", bound=BaseModel)


def _read(path: Path, model: type[M]) -> M | None:
    """The model in `path`, or None when the file is absent (that stage did not run)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ObjectError(f"{path}: cannot read it ({exc.strerror}).") from exc
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ObjectError(
            f"{path}: not a valid {model.__name__} ({where}: {first['msg']})."
        ) from None


def load_record(folder: Path) -> PostmortemRecord | None:
    """One incident folder; None when it holds no findings.json (not an incident folder)."""
    findings = _read(folder / "findings.json", Findings)
    if findings is None:
        return None
    return PostmortemRecord(
        incident_id=findings.incident_id,
        findings=findings,
        spec=_read(folder / "spec.json", IncidentSpec),
        analysis=_read(folder / "analysis.json", Analysis),
        verification=_read(folder / "verification.json", Verification),
        pack=_read(folder / "evidence" / "pack.json", EvidencePack),
        review=_read(folder / "review.json", ReviewRecord),
        publication=_read(folder / "published.json", Publication),
    )


def load_postmortems(root: Path, week: str) -> tuple[list[PostmortemRecord], list[str]]:
    """The postmortems (published or pending) whose incident started in `week` or the four
    weeks before it, and one sentence per folder that could not be read.

    A broken folder does not sink the review: it is named in the returned problems instead.
    """
    start = previous_weeks(week)[0].start
    end = week_bounds(week).end
    if not Path(root).is_dir():
        raise ObjectError(f"{root}: no such output folder; pass the folder drafts are written to.")
    records, problems = [], []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        try:
            record = load_record(folder)
        except ObjectError as exc:
            problems.append(str(exc))
            continue
        if record is not None and start <= record.started_at < end:
            records.append(record)
    return records, problems
