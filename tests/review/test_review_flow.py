"""The review gate on the real Prefect engine: a reviewer acts from another thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.postmortem import postmortem_run
from flows.review import ReviewDecision
from tasks.contracts import IncidentSpec, Publication, ReviewRecord, RunResult
from tasks.errors import ReviewError
from tasks.publish import sha256_file
from tasks.settings import Settings
from tests.review.conftest import Reviewer, tiny_spec, wait_for_status

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

# The clock starts at the pause, and the reviewer answers within seconds of it; a passing test
# never waits for the time-out.
FAST = {"review_poll_seconds": 0.5, "review_timeout_hours": 120 / 3600}


def run_reviewed(spec: IncidentSpec, tmp_path: Path) -> RunResult:
    """The whole run, publishing to `<tmp_path>/pub` on approval."""
    return postmortem_run(
        spec, settings=Settings(**FAST), out=tmp_path, publish_to=[str(tmp_path / "pub")]
    )


def test_approve_publishes_the_approved_draft(tiny_logs: Path, tmp_path: Path, reviewer) -> None:
    spec = tiny_spec(tiny_logs, "INC-approve")
    out_dir = tmp_path / spec.id
    r = reviewer(out_dir, (1, ReviewDecision(decision="approve", reviewer="alice", comments="ok")))
    result = run_reviewed(spec, tmp_path)
    r.thread.join(10)
    assert result.review.state == "published"
    record = ReviewRecord.model_validate_json((out_dir / "review.json").read_text())
    assert record.reviewer == "alice" and record.decision == "approve"
    assert record.draft_sha256 == sha256_file(out_dir / "draft.md")
    pub = Publication.model_validate_json((out_dir / "published.json").read_text())
    assert pub.approved_by == "alice"
    assert pub.copies[0].target == f"{tmp_path / 'pub'}/postmortems/{spec.id}/v1/"
    assert (tmp_path / "pub/postmortems" / spec.id / "v1/draft.md").read_bytes() == (
        out_dir / "draft.md"
    ).read_bytes()


def test_request_changes_then_approve_rerenders_and_rechecks_the_edit(
    tiny_logs: Path, tmp_path: Path, reviewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.postmortem

    spec = tiny_spec(tiny_logs, "INC-changes")
    out_dir = tmp_path / spec.id
    rechecked: list[str] = []

    def recheck(markdown: str, folder: Path, settings: Settings) -> list[str]:
        rechecked.append(markdown)
        return ["'Bob forgot' blames a person"]

    # Stands in for the verifier's and the blameless check's re-check of the edited text.
    monkeypatch.setattr(flows.postmortem, "recheck_edited_draft", recheck)
    edited = "# INC-changes\n\nBob forgot to scale checkout.\n"
    r = reviewer(
        out_dir,
        (
            1,
            ReviewDecision(
                decision="request_changes",
                reviewer="bob",
                comments="Say which deploy.",
                edited_markdown=edited,
            ),
        ),
        (2, ReviewDecision(decision="approve", reviewer="carol")),
    )
    result = run_reviewed(spec, tmp_path)
    r.thread.join(10)
    assert result.review.state == "published"
    assert rechecked == [edited]
    draft = (out_dir / "draft.md").read_text()
    assert draft.startswith(edited)
    assert "Round 1, bob** (request changes): Say which deploy." in draft
    assert "blames a person" in draft
    assert "Bob forgot to scale checkout." in (out_dir / "draft.html").read_text()
    # The round-2 pause showed the new draft and the re-check's warning.
    assert r.seen[1].draft_sha256 == sha256_file(out_dir / "draft.md")
    assert [h.decision for h in result.review.history] == ["request_changes", "approve"]
    record = ReviewRecord.model_validate_json((out_dir / "review.json").read_text())
    assert (record.reviewer, record.round) == ("carol", 2)
    published = tmp_path / "pub/postmortems" / spec.id / "v1/draft.md"
    assert published.read_text() == draft


def test_reject_ends_the_run_and_publishes_nothing(
    tiny_logs: Path, tmp_path: Path, reviewer
) -> None:
    spec = tiny_spec(tiny_logs, "INC-reject")
    out_dir = tmp_path / spec.id
    r = reviewer(out_dir, (1, ReviewDecision(decision="reject", reviewer="dave", comments="wrong")))
    result = run_reviewed(spec, tmp_path)
    r.thread.join(10)
    assert result.review.state == "rejected"
    assert result.publication is None
    assert not (tmp_path / "pub").exists()
    assert not (out_dir / "published.json").exists()
    assert (
        ReviewRecord.model_validate_json((out_dir / "review.json").read_text()).decision == "reject"
    )


def test_a_reviewer_off_the_allowlist_is_refused_and_the_run_keeps_waiting(
    tiny_logs: Path, tmp_path: Path, reviewer
) -> None:
    spec = tiny_spec(tiny_logs, "INC-allow")
    out_dir = tmp_path / spec.id
    r = reviewer(
        out_dir,
        (1, ReviewDecision(decision="approve", reviewer="mallory")),
        (1, ReviewDecision(decision="approve", reviewer="alice")),
    )
    settings = Settings(**FAST, reviewers=["alice"])
    result = postmortem_run(spec, settings=settings, out=tmp_path, publish_to=[str(tmp_path / "p")])
    r.thread.join(10)
    assert result.review.state == "published"
    assert len(result.review.refused) == 1 and "mallory" in result.review.refused[0]
    assert [h.reviewer for h in result.review.history] == ["alice"]
    assert result.publication and result.publication.approved_by == "alice"


def test_a_time_out_leaves_the_draft_unpublished_and_says_how_to_review_again(
    tiny_logs: Path, tmp_path: Path
) -> None:
    spec = tiny_spec(tiny_logs, "INC-timeout")
    settings = Settings(review_poll_seconds=0.5, review_timeout_hours=2 / 3600)
    result = postmortem_run(spec, settings=settings, out=tmp_path, publish_to=[str(tmp_path / "p")])
    assert result.review.state == "timed_out"
    assert "--review-only" in result.review.message
    assert not (tmp_path / "p").exists()
    status = (tmp_path / spec.id / "review-status.json").read_text()
    assert '"timed_out"' in status


class SecondRunFirst(Reviewer):
    """While round 1 waits, starts a second run of the same incident (an incident tool sending
    `incident.resolved` twice), then decides round 1 like any reviewer."""

    def __init__(self, out_dir: Path, spec: IncidentSpec, second_out: Path) -> None:
        super().__init__(
            out_dir, [(1, ReviewDecision(decision="approve", reviewer="alice", comments="ok"))]
        )
        self.spec, self.second_out = spec, second_out
        self.refusal: BaseException | None = None

    def _run(self) -> None:
        try:
            self.first_run_id = wait_for_status(self.out_dir, "waiting", 1).flow_run_id
            try:
                postmortem_run(self.spec, settings=Settings(**FAST), out=self.second_out)
            except ReviewError as exc:
                self.refusal = exc
        except BaseException as exc:
            self.errors.append(exc)
        super()._run()


def test_a_second_run_of_an_incident_under_review_is_refused(
    tiny_logs: Path, tmp_path: Path
) -> None:
    spec = tiny_spec(tiny_logs, "INC-twice")
    second_out = tmp_path / "second"
    r = SecondRunFirst(tmp_path / spec.id, spec, second_out)
    r.thread.start()
    result = run_reviewed(spec, tmp_path)
    r.thread.join(10)
    assert not r.errors, r.errors

    assert isinstance(r.refusal, ReviewError), "the second run was not refused"
    message = str(r.refusal)
    assert f"Not drafting {spec.id} again" in message and r.first_run_id in message
    assert f"postmortem review {r.first_run_id}" in message
    assert not (second_out / spec.id).exists()  # it drafted nothing
    # The first run went on as if nothing happened.
    assert result.review.state == "published"
