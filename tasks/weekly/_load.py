"""Read the incident folders under an output root into PostmortemRecords for a weekly review."""

from __future__ import annotations

from pathlib import Path

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
from tasks.output import read_model_json
from tasks.weekly._review import PostmortemRecord, previous_weeks, week_bounds


def load_postmortems(root: Path, week: str) -> tuple[list[PostmortemRecord], list[str]]:
    """The postmortems (published or pending) whose incident started in `week` or the four
    weeks before it, and one sentence per folder that could not be read.

    A broken folder does not sink the review: it is named in the returned problems instead.
    Only the findings of a folder outside those weeks are read.
    """
    start = previous_weeks(week)[0].start
    end = week_bounds(week).end
    if not Path(root).is_dir():
        raise ObjectError(f"{root}: no such output folder; pass the folder drafts are written to.")
    records, problems = [], []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        try:
            # No findings.json: not an incident folder (the weekly reviews' own, for one).
            findings = read_model_json(Findings, folder / "findings.json")
            if findings is not None and start <= findings.windows.incident.start < end:
                records.append(_record(folder, findings))
        except ObjectError as exc:
            problems.append(str(exc))
    return records, problems


def _record(folder: Path, findings: Findings) -> PostmortemRecord:
    return PostmortemRecord(
        incident_id=findings.incident_id,
        findings=findings,
        spec=read_model_json(IncidentSpec, folder / "spec.json"),
        analysis=read_model_json(Analysis, folder / "analysis.json"),
        verification=read_model_json(Verification, folder / "verification.json"),
        pack=read_model_json(EvidencePack, folder / "evidence" / "pack.json"),
        review=read_model_json(ReviewRecord, folder / "review.json"),
        publication=read_model_json(Publication, folder / "published.json"),
    )
