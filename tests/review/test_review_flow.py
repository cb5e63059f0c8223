"""The review gate on the real Prefect engine: a reviewer acts from another thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.postmortem import postmortem_run
from flows.review import ReviewDecision
from tasks.contracts import Publication, ReviewRecord
from tasks.publish import sha256_file
from tasks.settings import Settings
from tests.review.conftest import tiny_spec

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

FAST = {"review_poll_seconds": 0.5, "review_timeout_hours": 0.05}


def test_approve_publishes_the_approved_draft(tiny_logs: Path, tmp_path: Path, reviewer) -> None:
    spec = tiny_spec(tiny_logs, "INC-approve")
    out_dir = tmp_path / spec.id
    r = reviewer(out_dir, (1, ReviewDecision(decision="approve", reviewer="alice", comments="ok")))
    result = postmortem_run(
        spec, settings=Settings(**FAST), out=tmp_path, publish_to=[str(tmp_path / "pub")]
    )
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
