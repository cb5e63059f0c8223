"""Under a deployment the run suspends (its process ends) and a resume does not redo the work.

The run is executed the way a worker executes one, by `run_flow(flow, flow_run=...)`, against a
deployment record in the test harness; no worker process is needed for that.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow

import flows.postmortem
from flows.postmortem import postmortem_run
from flows.review import ReviewDecision, list_pending, submit_review
from tasks.contracts import Publication
from tasks.settings import Settings
from tests.review.conftest import tiny_spec

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_resume_after_suspend_does_not_gather_again(
    tiny_logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gathered: list[str] = []
    for name in ("gather_logs", "findings_from_parquet", "render_draft"):
        real = getattr(flows.postmortem, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            gathered.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(flows.postmortem, name, counting)
    once = ["gather_logs", "findings_from_parquet", "render_draft"]
    spec = tiny_spec(tiny_logs, "INC-suspend")
    parameters = {
        "spec": spec.model_dump(mode="json"),
        "settings": Settings(review_poll_seconds=0.5).model_dump(mode="json"),
        "out": str(tmp_path),
        "publish_to": [str(tmp_path / "pub")],
    }
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(postmortem_run)
        deployment_id = client.create_deployment(flow_id=flow_id, name="suspend-test")
        flow_run = client.create_flow_run_from_deployment(deployment_id, parameters=parameters)

    # The engine ends the run's process here, as a worker would see it.
    with pytest.raises(Pause):
        run_flow(postmortem_run, flow_run=flow_run, return_type="state")
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).state.name == "Suspended"
    assert gathered == once
    assert [p.flow_run_id for p in list_pending()].count(str(flow_run.id)) == 1

    submit_review(flow_run.id, ReviewDecision(decision="approve", reviewer="erin"))
    with get_client(sync_client=True) as client:
        resumed = client.read_flow_run(flow_run.id)
    assert resumed.state.is_scheduled()  # rescheduled for a worker to pick up again

    second = run_flow(postmortem_run, flow_run=resumed, return_type="state")
    assert second.is_completed(), second
    # The resumed run reused the persisted results: nothing gathered, compared or rendered again.
    assert gathered == once
    out_dir = tmp_path / spec.id
    published = Publication.model_validate_json((out_dir / "published.json").read_text())
    assert published.approved_by == "erin"
    assert (tmp_path / "pub/postmortems" / spec.id / "v1/draft.md").read_bytes() == (
        out_dir / "draft.md"
    ).read_bytes()


def test_a_decision_sent_before_the_run_pauses_is_retried_until_it_does(tmp_path: Path) -> None:
    """The reviewer may act the moment review-status.json says `waiting`, a little before the
    pause reaches the server: submit_review retries instead of calling the run not waiting."""
    import threading
    import time

    from prefect import flow
    from prefect.context import FlowRunContext
    from prefect.flow_runs import pause_flow_run

    marker = tmp_path / "run-id"

    @flow
    def pauses_late() -> ReviewDecision:
        marker.write_text(str(FlowRunContext.get().flow_run.id))
        time.sleep(2)
        return pause_flow_run(
            wait_for_input=ReviewDecision, timeout=120, poll_interval=0.5, key="late"
        )

    errors: list[BaseException] = []

    def decide() -> None:
        try:
            while not marker.exists():
                time.sleep(0.05)
            submit_review(marker.read_text(), ReviewDecision(decision="reject", reviewer="fay"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=decide)
    thread.start()
    decision = pauses_late()
    thread.join(10)
    assert not errors, errors
    assert (decision.decision, decision.reviewer) == ("reject", "fay")
