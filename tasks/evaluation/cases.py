"""Labelled incidents as data: a spec, its ground truth and, optionally, recorded analyses.

Two layouts are read (HolmesGPT-style: one case is files on disk, not code):

- one folder per case: `<case>/incident.yaml` (or `spec.yaml`, `incident.json`) with
  `<case>/truth.json` or the generator's `<case>/ground_truth.json`, and optionally
  `<case>/recorded/<label>.json`, each a recorded `Analysis` that is scored without calling a
  model;
- a folder of specs with one `truth.json` beside them, mapping each incident ID to its truth
  (the layout of the OpenStack fault-injection incidents).

A truth names `root_cause_service` (or `process`, `service`), optionally a coarser
`root_cause_group` (or `subsystem`) used when the service is unknown, and `onset` (or `t0`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from tasks.contracts import IncidentSpec
from tasks.contracts.spec import describe_validation_error
from tasks.errors import SpecError

SPEC_NAMES = ("incident.yaml", "incident.yml", "spec.yaml", "incident.json")
TRUTH_NAMES = ("truth.json", "ground_truth.json")
RECORDED_DIR = "recorded"


class Truth(BaseModel):
    """What really happened, as far as the scores need it."""

    root_cause_service: str | None = None
    root_cause_group: str | None = Field(
        None, description="A coarser label (a subsystem) scored by prefix when no service is known."
    )
    onset: AwareDatetime | None = None

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str) -> Truth:
        """Reads the generator's and the OpenStack set's field names alike."""
        if not isinstance(data, dict):
            raise SpecError(f"{where}: a truth must be a mapping of fields.")
        try:
            return cls(
                root_cause_service=data.get("root_cause_service")
                or data.get("process")
                or data.get("service"),
                root_cause_group=data.get("root_cause_group") or data.get("subsystem"),
                onset=data.get("onset") or data.get("t0"),
            )
        except ValidationError as exc:
            raise SpecError(f"{where}: {describe_validation_error(exc)}") from exc


class EvalCase(BaseModel):
    name: str
    spec: IncidentSpec
    truth: Truth
    recorded: dict[str, Path] = Field(
        default_factory=dict, description="label -> a recorded analysis.json to score as well"
    )


def load_cases(folder: Path) -> list[EvalCase]:
    """Every labelled case under `folder`, in name order; a broken case names its file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"{folder}: not a folder of labelled incidents.")
    shared_truth = folder / "truth.json"
    if shared_truth.is_file() and _spec_files(folder):
        return _cases_beside_truth(folder, shared_truth)
    cases = [case for sub in sorted(folder.iterdir()) if (case := _case_folder(sub))]
    if not cases and _find(folder, SPEC_NAMES):
        cases = [c for c in [_case_folder(folder)] if c]
    if not cases:
        raise SpecError(
            f"{folder}: no labelled incidents found; expected <case>/incident.yaml with "
            "<case>/truth.json, or specs with one truth.json beside them."
        )
    return cases


def _spec_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml", ".json") and p.name not in TRUTH_NAMES
    )


def _cases_beside_truth(folder: Path, truth_path: Path) -> list[EvalCase]:
    truths = _read_json(truth_path)
    if not isinstance(truths, dict):
        raise SpecError(f"{truth_path}: expected a mapping of incident ID to its truth.")
    cases = []
    for path in _spec_files(folder):
        spec = IncidentSpec.from_file(path)
        if spec.id not in truths:
            raise SpecError(f"{truth_path}: no truth for incident {spec.id} ({path.name}).")
        truth = Truth.from_mapping(truths[spec.id], f"{truth_path}[{spec.id}]")
        cases.append(EvalCase(name=spec.id, spec=spec, truth=truth))
    return cases


def _case_folder(folder: Path) -> EvalCase | None:
    if not folder.is_dir():
        return None
    spec_path, truth_path = _find(folder, SPEC_NAMES), _find(folder, TRUTH_NAMES)
    if spec_path is None or truth_path is None:
        return None
    # from_file resolves relative local source paths against the spec's folder, so a case runs
    # from any working directory.
    spec = IncidentSpec.from_file(spec_path)
    truth = Truth.from_mapping(_read_json(truth_path), str(truth_path))
    recorded_dir = folder / RECORDED_DIR
    recorded = (
        {p.stem: p for p in sorted(recorded_dir.glob("*.json"))} if recorded_dir.is_dir() else {}
    )
    return EvalCase(name=folder.name, spec=spec, truth=truth, recorded=recorded)


def _find(folder: Path, names: Iterable[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the truth file ({exc}).") from exc


def generator_cases(
    work_dir: Path,
    scenarios: Iterable[str],
    seed: int = 1,
    scale: float = 0.1,
    incident_start: datetime | None = None,
) -> list[EvalCase]:
    """The generator's scenarios as labelled cases, written under `work_dir` (logs, spec and
    ground truth per case), so the same folder can be scored again with `load_cases`."""
    from tasks.synthetic.generator import LocalSink, generate_incident, write_outputs

    cases = []
    for scenario in scenarios:
        folder = Path(work_dir) / f"{scenario}-{seed}"
        logs = folder / "logs"
        spec, truth = generate_incident(
            scenario,
            seed,
            LocalSink(logs),
            source_root=str(logs.resolve()),
            scale=scale,
            incident_start=incident_start,
        )
        write_outputs(spec, truth, folder)
        cases.append(
            EvalCase(
                name=folder.name,
                spec=spec,
                truth=Truth(root_cause_service=truth.root_cause_service, onset=truth.onset),
            )
        )
    return cases


def select_cases(
    folder: Path | None,
    work_dir: Path,
    scenarios: list[str] | None = None,
    seed: int = 1,
    scale: float = 0.1,
    limit: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[EvalCase]:
    """The cases an eval scores: the labelled incidents in `folder`, or, without one, the
    generator's scenarios written under `work_dir`; the first `limit` of them when given."""
    if folder is None:
        from tasks.synthetic.generator import SCENARIOS

        unknown = sorted(set(scenarios or []) - set(SCENARIOS))
        if unknown:
            raise SpecError(
                f"--scenario: unknown {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}."
            )
        log(f"Generating {len(scenarios or SCENARIOS)} scenarios (seed {seed}, scale {scale})…")
        cases = generator_cases(work_dir, scenarios or list(SCENARIOS), seed, scale)
    else:
        cases = load_cases(folder)
    return cases[:limit] if limit else cases
