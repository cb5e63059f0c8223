"""The weekly review's gate on the real Prefect engine: a reviewer acts from another thread
through `submit_review`, the function `postmortem review` uses, as for a postmortem."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from flows.review import STATUS_FILE, PendingReview, ReviewDecision, list_pending, read_status
from flows.weekly_review import weekly_review
from tasks.contracts import Publication, ReviewRecord
from tasks.publish import PUBLISHED_FILE, sha256_file
from tasks.settings import Settings
from tests.review.conftest import Reviewer, wait_for_status
from tests.weekly.test_weekly import WEEK, at, record, write_folder

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

FAST = {"review_poll_seconds": 0.5, "review_timeout_hours": 120 / 3600, "analyst": "offline"}


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    for rec in (
        record("INC-A", at(23), patterns=("p1",), resolved=timedelta(minutes=40)),
        record("INC-B", at(25), patterns=("p1",), severity="SEV1"),
    ):
        write_folder(tmp_path, rec)
    return tmp_path


class PendingReviewer(Reviewer):
    """Reads `postmortem pending`'s list once the run waits, then decides."""

    pending: list[PendingReview]

    def _run(self) -> None:
        try:
            status = wait_for_status(self.out_dir, "waiting", 1)
            # The status is written just before the pause: poll until the run is PAUSED.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                self.pending = list_pending()
                if any(p.flow_run_id == status.flow_run_id for p in self.pending):
                    break
                time.sleep(0.2)
        except BaseException as exc:
            self.errors.append(exc)
        super()._run()


def start(folder: Path, *decisions: tuple[int, ReviewDecision]) -> Reviewer:
    r = PendingReviewer(folder, list(decisions))
    r.thread.start()
    return r


def finish(r: Reviewer) -> None:
    r.thread.join(10)
    assert not r.errors, r.errors


def test_an_approved_weekly_review_is_marked_reviewed_and_a_stranger_is_refused(
    root: Path,
) -> None:
    folder = root / "weekly" / WEEK
    r = start(
        folder,
        (1, ReviewDecision(decision="approve", reviewer="mallory")),
        (1, ReviewDecision(decision="approve", reviewer="alice", comments="ok")),
    )
    path = weekly_review(WEEK, Settings(**FAST, reviewers=["alice"]), root)
    finish(r)

    assert path == folder / "reviewed.md"
    status = read_status(folder)
    # While it waited, `postmortem pending` listed it with its page.
    (waiting,) = [p for p in r.pending if p.flow_run_id == status.flow_run_id]
    assert waiting.incident_id == f"weekly-{WEEK}"
    assert waiting.draft_path == str((folder / "weekly_review.md").resolve())
    assert status.state == "published" and status.incident_id == f"weekly-{WEEK}"
    assert len(status.refused) == 1 and "mallory" in status.refused[0]
    record_ = ReviewRecord.model_validate_json((folder / "review.json").read_text())
    assert (record_.reviewer, record_.decision) == ("alice", "approve")
    # The approval covers the page exactly as it was shown; the reviewed copy says who and when.
    draft = folder / "weekly_review.md"
    assert record_.draft_sha256 == sha256_file(draft)
    assert "Draft, awaiting review" in draft.read_text()
    reviewed = path.read_text()
    assert "Draft, awaiting review" not in reviewed
    assert "**Reviewed and approved** by alice" in reviewed and record_.draft_sha256 in reviewed
    assert "Reviewed and approved</strong> by alice" in (folder / "reviewed.html").read_text()
    # Then it is published like a postmortem: a version under weekly/<week>/ of the default
    # target, holding the approved page byte for byte and the reviewed copies.
    version = root / "published" / "weekly" / WEEK / "v1"
    assert (version / "weekly_review.md").read_bytes() == draft.read_bytes()
    assert (version / "reviewed.md").read_bytes() == path.read_bytes()
    assert {"reviewed.html", "review.json", "weekly_review.html"} <= {
        p.name for p in version.iterdir()
    }
    assert any(version.glob("**/*.svg"))
    publication = Publication.model_validate_json((folder / PUBLISHED_FILE).read_text())
    assert publication.approved_by == "alice" and publication.copies[0].version == 1
    assert str(version) in status.message
    # Offline: the summary is omitted with a note, never invented.
    assert "> **No AI summary.** No model is configured" in draft.read_text()


def test_a_rejected_weekly_review_is_never_marked_reviewed(root: Path) -> None:
    folder = root / "weekly" / WEEK
    edited = (
        "# Weekly reliability review\n\nINC-B was the week's only SEV1. INC-A took 40 minutes "
        "to resolve; 37 customers saw errors.\n"
    )
    r = start(
        folder,
        (
            1,
            ReviewDecision(
                decision="request_changes",
                reviewer="bob",
                comments="Shorter, please.",
                edited_markdown=edited,
            ),
        ),
        (2, ReviewDecision(decision="reject", reviewer="carol", comments="not this week")),
    )
    path = weekly_review(WEEK, Settings(**FAST), root)
    finish(r)

    assert path == folder / "weekly_review.md"
    assert read_status(folder).state == "rejected"
    assert not (folder / "reviewed.md").exists() and not (folder / "reviewed.html").exists()
    assert not (root / "published").exists() and not (folder / PUBLISHED_FILE).exists()
    # The request for changes re-rendered the page with the edit and the review notes.
    text = path.read_text()
    assert text.startswith(edited) and "Round 1, bob** (request changes): Shorter" in text
    # The edit was checked against the page it replaced: the figure it made up is named, the
    # one the page holds (INC-A's 40 minutes to resolve) is not.
    notes = text.split("**Checks on the edited text:**")[1]
    assert notes.count("⚠") == 1 and 'The edit writes "37"' in notes
    assert "INC-B was the week" in path.with_suffix(".html").read_text()
    assert r.seen[1].draft_sha256 == sha256_file(path)


def test_with_the_gate_off_the_review_is_written_as_before(root: Path) -> None:
    folder = root / "weekly" / WEEK
    path = weekly_review(WEEK, Settings(**FAST, weekly_review_gate=False), root)

    assert path == folder / "weekly_review.md"
    assert not (folder / STATUS_FILE).exists() and not (folder / "reviewed.md").exists()
    assert "Draft, awaiting review" not in path.read_text()


def test_with_the_summary_off_there_is_no_summary_section(root: Path) -> None:
    path = weekly_review(
        WEEK, Settings(**FAST, weekly_review_gate=False, weekly_ai_summary=False), root
    )
    assert "Themes (AI summary)" not in path.read_text()
    assert "No AI summary" not in path.read_text()
