"""`postmortem review` refuses a malformed decision before it reaches Prefect; review notes;
the re-check of an edited draft."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.review import NOTES_BEGIN, ReviewDecision, submit_review, with_review_notes
from tasks.contracts import ReviewRecord
from tasks.errors import ReviewError

runner = CliRunner()
RUN = "7f1c2d3e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ([RUN, "--reviewer", "alice"], "exactly one of"),
        ([RUN, "--approve", "--reject", "--reviewer", "alice"], "exactly one of"),
        ([RUN, "--approve"], "--reviewer"),
        ([RUN, "--approve", "--reviewer", "alice", "--edited", "x.md"], "--request-changes"),
    ],
)
def test_a_malformed_decision_is_one_clear_error(args: list[str], complaint: str) -> None:
    outcome = runner.invoke(app, ["review", *args])
    assert outcome.exit_code == 2
    assert complaint in outcome.stderr
    assert outcome.stdout == ""


def test_a_reviewer_off_the_allowlist_is_refused_at_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSTMORTEM_REVIEWERS", '["alice", "bob"]')
    outcome = runner.invoke(app, ["review", RUN, "--approve", "--reviewer", "mallory"])
    assert outcome.exit_code == ReviewError.exit_code
    assert "'mallory' is not on the reviewer allowlist (alice, bob)" in outcome.stderr


def test_a_missing_edited_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    outcome = runner.invoke(
        app, ["review", RUN, "--request-changes", "--reviewer", "a", "--edited", str(missing)]
    )
    assert outcome.exit_code == 2
    assert "nope.md" in outcome.stderr


def test_submit_review_refuses_a_run_id_that_is_not_a_uuid() -> None:
    with pytest.raises(ReviewError, match="not a flow run id"):
        submit_review("INC-1", ReviewDecision(decision="approve", reviewer="a"))


def test_review_notes_are_rebuilt_not_appended_so_a_replayed_resume_gives_the_same_draft() -> None:
    def record(n: int, who: str, said: str) -> ReviewRecord:
        return ReviewRecord(
            incident_id="INC-1",
            decision="request_changes",
            reviewer=who,
            decided_at=datetime(2026, 11, 29, tzinfo=UTC),
            draft_sha256="0" * 64,
            comments=said,
            round=n,
        )

    first = with_review_notes("# INC-1\n\nbody\n", [record(1, "bob", "add the deploy")], [])
    second = with_review_notes(
        first, [record(1, "bob", "add the deploy"), record(2, "eve", "ok")], ["w"]
    )
    assert second.count(NOTES_BEGIN) == 1
    assert "Round 1, bob" in second and "Round 2, eve" in second and "⚠ w" in second
    # Applying the same decisions again (a replay after a suspend) changes nothing.
    replay = with_review_notes(
        second, [record(1, "bob", "add the deploy"), record(2, "eve", "ok")], ["w"]
    )
    assert replay == second
    assert second.startswith("# INC-1\n\nbody\n")


def test_the_flow_rechecks_an_edited_draft_against_the_one_it_replaces(tmp_path: Path) -> None:
    from flows.postmortem import recheck_edited_draft
    from tasks.settings import Settings

    (tmp_path / "draft.md").write_text("# INC-1\n\nbody\n")
    blamed = recheck_edited_draft(
        "# INC-1\n\nBob forgot to scale checkout.\n", tmp_path, Settings()
    )
    assert len(blamed) == 1 and "blaming a person" in blamed[0]
    assert recheck_edited_draft("# INC-1\n\nbody\n", tmp_path, Settings()) == []
