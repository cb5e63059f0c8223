"""The reviewer's real path: the Prefect UI, in a browser, on a run paused for review.

A real `prefect server start`; `postmortem run` in its own process, as a user starts it; Debian's
chromium opens the paused run, clicks Resume, fills the review form and submits it. The run
must then finish and publish exactly the draft that was approved.

Each step has its own bound and names itself when it fails; on a busy 2-core machine the whole
test takes one to three minutes, most of it the server's start and the draft.
Set UPDATE_DOCS_SCREENSHOTS=1 to refresh docs/review_form.png from the form this test fills.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.review import STATUS_FILE, read_status
from tasks.contracts import Publication, ReviewRecord
from tasks.publish import sha256_file
from tests.review.conftest import tiny_spec, write_tiny_logs
from tests.ui.conftest import CHROMIUM, PrefectServer, stop, tail

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "review_form.png"
INCIDENT = "INC-ui"
REVIEWER = "Dana Okafor"
COMMENT = "Suspects match the deploy log; approved as drafted."
PAUSE_SECONDS = 150.0
FINISH_SECONDS = 90.0
UI_MS = 45_000  # each wait in the browser


def start_run(server: PrefectServer, tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """`postmortem run` on a tiny local-folder incident, publishing to a folder."""
    write_tiny_logs(tmp_path / "logs")
    spec = tiny_spec(tmp_path / "logs", INCIDENT)
    spec_file = tmp_path / "incident.json"
    spec_file.write_text(spec.model_dump_json(indent=2, exclude_none=True))
    out, pub = tmp_path / "out", tmp_path / "pub"
    env = server.env | {
        "POSTMORTEM_REVIEW_POLL_SECONDS": "1",
        # If the browser never answers, the run gives up soon after the test does.
        "POSTMORTEM_REVIEW_TIMEOUT_HOURS": "0.1",
        "CI": "1",
    }
    log = tmp_path / "run.log"
    command = [sys.executable, "-c", "from flows.cli import app; app()", "run", str(spec_file)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--out", str(out), "--publish-to", str(pub)],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, out / INCIDENT, pub


def wait_until_paused(server: PrefectServer, process: subprocess.Popen, out_dir: Path) -> str:
    """The flow run id, once the server says the run is Paused."""
    deadline = time.monotonic() + PAUSE_SECONDS
    run_log = out_dir.parents[1] / "run.log"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"step 'wait for the pause': postmortem run exited with {process.returncode} "
                f"before pausing:\n{tail(run_log)}"
            )
        status = read_status(out_dir)
        if status and status.state == "waiting" and status.flow_run_id:
            run = httpx.get(f"{server.api_url}/flow_runs/{status.flow_run_id}", timeout=10).json()
            if run.get("state_type") == "PAUSED":
                return status.flow_run_id
        time.sleep(1)
    pytest.fail(
        f"step 'wait for the pause': no Paused run within {PAUSE_SECONDS:.0f} s "
        f"({out_dir / STATUS_FILE}: {read_status(out_dir)}):\n{tail(run_log)}"
    )


def review_in_the_ui(browser, server: PrefectServer, run_id: str, shots: Path) -> None:
    """What a reviewer does: open the run, Resume, fill the form, Submit."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(UI_MS)
    try:
        step = "open the paused run"
        page.goto(f"{server.url}/runs/flow-run/{run_id}")
        expect(page.get_by_text("Paused", exact=True).first).to_be_visible()

        step = "open the review form"
        page.get_by_role("button", name="Resume").click()
        form = page.get_by_role("dialog")
        expect(form.get_by_role("heading", name=f"Review {INCIDENT}: Checkout 5xx")).to_be_visible()
        # The form shows the figures the draft shows, not the analyst's fact references.
        expect(form).to_contain_text("its error rate was")
        expect(form).not_to_contain_text("{F:")

        def field(label: str):
            # The UI's <label for=...> points at no input, so labels cannot be used directly:
            # find the property by its visible label, then the control inside it.
            return form.locator(".schema-form-property").filter(
                has=page.locator(".schema-form-property__label", has_text=re.compile(label))
            )

        step = "choose the decision"
        control = field("^Decision$").get_by_role("button").last
        control.click()
        options = page.get_by_role("listbox")
        try:
            expect(options).to_be_visible(timeout=3_000)
        except AssertionError:
            # In headless chromium a click on this select does not always open its list; the
            # keyboard, which a reviewer may use too, always does.
            control.press("ArrowDown")
        page.get_by_role("option", name="approve", exact=True).click()
        expect(control).to_have_text("approve")

        step = "fill the reviewer and the comments"
        field("^Reviewer$").get_by_role("textbox").fill(REVIEWER)
        field("^Comments").get_by_role("textbox").fill(COMMENT)
        form.screenshot(path=shots / "review_form.png")
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
            shutil.copyfile(shots / "review_form.png", DOCS_SCREENSHOT)

        step = "submit the form"
        form.get_by_role("button", name="Submit").click()
        expect(form).to_be_hidden()

        step = "see the run complete in the UI"
        expect(page.get_by_text("Completed", exact=True).first).to_be_visible(timeout=90_000)
        page.screenshot(path=shots / "completed.png")
    except Exception as exc:
        page.screenshot(path=shots / "failure.png", full_page=True)
        pytest.fail(f"step '{step}' in the browser failed ({shots / 'failure.png'}): {exc}")
    finally:
        page.close()


def test_a_reviewer_approves_in_the_prefect_ui_and_the_approved_draft_is_published(
    prefect_server: PrefectServer, browser, tmp_path: Path
) -> None:
    process, out_dir, pub = start_run(prefect_server, tmp_path)
    try:
        run_id = wait_until_paused(prefect_server, process, out_dir)
        assert not (pub.exists() and any(pub.rglob("*.md"))), "published before any review"
        review_in_the_ui(browser, prefect_server, run_id, tmp_path)
        try:
            code = process.wait(FINISH_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"step 'wait for the run to finish': still running {FINISH_SECONDS:.0f} s after "
                f"the decision:\n{tail(tmp_path / 'run.log')}"
            )
        assert code == 0, f"step 'run exit': {code}:\n{tail(tmp_path / 'run.log')}"
    finally:
        stop(process)

    run = httpx.get(f"{prefect_server.api_url}/flow_runs/{run_id}", timeout=10).json()
    assert run["state_type"] == "COMPLETED", run["state"]
    # The decision the browser sent is the one recorded, for the exact draft on disk.
    record = ReviewRecord.model_validate_json((out_dir / "review.json").read_text())
    assert (record.decision, record.reviewer, record.comments) == ("approve", REVIEWER, COMMENT)
    draft = out_dir / "draft.md"
    assert record.draft_sha256 == sha256_file(draft)
    assert read_status(out_dir).state == "published"
    publication = Publication.model_validate_json((out_dir / "published.json").read_text())
    assert publication.approved_by == REVIEWER
    version = pub / "postmortems" / INCIDENT / "v1"
    assert publication.copies[0].target == f"{version}/"
    # draft.md is published byte for byte; postmortem.md carries the approval where the draft
    # banner was (tests/render/test_approval.py checks the rest of the stamp).
    assert (version / "draft.md").read_bytes() == draft.read_bytes()
    published = (version / "postmortem.md").read_text(encoding="utf-8")
    assert f"**Reviewed and approved** by {REVIEWER}" in published
    assert record.draft_sha256 in published
    assert "Draft, awaiting review" not in published
