"""A tiny local-folder incident and a reviewer who acts from another thread, as the CLI does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.review import STATUS_FILE, ReviewDecision, read_status, submit_review
from tasks.contracts import IncidentSpec, ReviewStatus, Source, TimeWindow

START = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def write_tiny_logs(folder: Path) -> None:
    """An hour of calm baseline, then checkout failing for the incident's 20 minutes."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for minute in range(-60, 20):
        at = START + timedelta(minutes=minute)
        for service in ("checkout", "cart"):
            for n in range(3):
                failing = service == "checkout" and minute >= 0 and n < 2
                lines.append(
                    {
                        "time": (at + timedelta(seconds=n * 10)).isoformat(),
                        "service": service,
                        "level": "error" if failing else "info",
                        "message": "upstream payment timeout" if failing else f"GET /items/{n} 200",
                        "status": 503 if failing else 200,
                    }
                )
    (folder / "app.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def tiny_spec(logs: Path, incident_id: str) -> IncidentSpec:
    return IncidentSpec(
        id=incident_id,
        title="Checkout 5xx",
        window=TimeWindow(start=START, end=START + timedelta(minutes=20)),
        sources=[Source(name="app", uri=str(logs), format="jsonl")],
    )


@pytest.fixture(scope="session")
def tiny_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-logs")
    write_tiny_logs(folder)
    return folder


def wait_for_status(out_dir: Path, state: str, round_: int, timeout: float = 240.0) -> ReviewStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(out_dir)
        if status and status.state == state and status.round == round_:
            return status
        time.sleep(0.2)
    raise AssertionError(f"{out_dir / STATUS_FILE} never reached {state} round {round_}")


class Reviewer:
    """Acts from another thread through `submit_review`, the function `postmortem review` uses."""

    def __init__(self, out_dir: Path, decisions: list[tuple[int, ReviewDecision]]) -> None:
        self.out_dir = out_dir
        self.decisions = decisions
        self.errors: list[BaseException] = []
        self.seen: list[ReviewStatus] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for round_, decision in self.decisions:
                status = wait_for_status(self.out_dir, "waiting", round_)
                # The status names the run; a refused decision leaves the same round waiting,
                # so wait for the refusal to be recorded before sending the next one.
                before = len(status.refused)
                self.seen.append(status)
                submit_review(status.flow_run_id, decision)
                self._settle(round_, before)
        except BaseException as exc:
            self.errors.append(exc)

    def _settle(self, round_: int, refused_before: int) -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            status = read_status(self.out_dir)
            if status is None:
                time.sleep(0.1)
                continue
            if (
                status.round != round_
                or status.state != "waiting"
                or len(status.refused) > refused_before
            ):
                return
            time.sleep(0.1)


@pytest.fixture()
def reviewer() -> Iterator[Callable[..., Reviewer]]:
    started: list[Reviewer] = []

    def start(out_dir: Path, *decisions: tuple[int, ReviewDecision]) -> Reviewer:
        r = Reviewer(out_dir, list(decisions))
        r.thread.start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.thread.join(timeout=5)
        assert not r.errors, r.errors
