"""The eval runner with a stand-in draft: what it reads back, and a failing case as a row."""

from __future__ import annotations

from pathlib import Path

from tasks.evaluation import BASELINE_LABEL, EvalCase, Truth, evaluate, run_eval, summarise
from tasks.settings import Settings
from tests.verify import builder as b

CASE = EvalCase(name="INC-42", spec=b.spec(), truth=Truth(root_cause_service="checkout"))


def writes_findings(spec, settings: Settings) -> None:
    folder = Path(settings.out_dir) / spec.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "findings.json").write_text(b.findings().model_dump_json())


def test_each_analyst_runs_in_its_own_folder_and_the_baseline_row_appears_once(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, str, Path]] = []

    def draft(spec, settings: Settings) -> None:
        seen.append((settings.analyst, settings.model, settings.out_dir))
        writes_findings(spec, settings)

    scores = evaluate(
        [CASE],
        Settings(),
        tmp_path,
        ["offline", "claude"],
        ["claude-haiku-4-5", "claude-opus-4-1"],
        draft=draft,
    )
    assert [(a, m) for a, m, _ in seen] == [
        ("offline", Settings().model),
        ("claude", "claude-haiku-4-5"),
        ("claude", "claude-opus-4-1"),
    ]
    assert len({folder for _, _, folder in seen}) == 3
    labels = [s.analyst for s in summarise(scores)]
    assert labels == [
        BASELINE_LABEL,
        "offline (findings only)",
        "claude:claude-haiku-4-5 (findings only)",
        "claude:claude-opus-4-1 (findings only)",
    ]


def test_a_case_whose_draft_fails_is_a_row_with_its_error(tmp_path: Path) -> None:
    def draft(spec, settings: Settings) -> None:
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    (row,) = run_eval([CASE], Settings(analyst="offline"), tmp_path, draft=draft)
    assert row.error == (
        "RuntimeError: Timed out while attempting to connect to ephemeral Prefect API server."
    )
    assert summarise([row])[0].failed == 1
