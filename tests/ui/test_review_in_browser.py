"""The reviewer's real path: the Prefect UI, in a browser, on a run paused for review.

A real `prefect server start`; `postmortem run` in its own process, as a user starts it; Debian's
chromium opens the paused run, clicks Resume, reads and fills the review form and submits it:
round 1 asks for changes in the V1 UI (where `postmortem pending`'s link leads), round 2
approves in the V2 UI (where the server's address leads). The run must then finish and publish
exactly the draft that was approved.

Each step has its own bound and names itself when it fails; on a busy 2-core machine the whole
test takes two to four minutes, most of it the server's start and the draft.
Set UPDATE_DOCS_SCREENSHOTS=1 to refresh docs/review_form.png, review_form_v2.png and
review_draft_artifact.png from this test's browser.
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
from tests.prefect_server import PrefectServer, log_tail, stop
from tests.review.conftest import tiny_spec, write_tiny_logs
from tests.ui.conftest import CHROMIUM

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOCS_SCREENSHOTS = {"v1": DOCS / "review_form.png", "v2": DOCS / "review_form_v2.png"}
DOCS_DRAFT_SCREENSHOT = DOCS / "review_draft_artifact.png"
INCIDENT = "INC-ui"
REVIEWER = "Dana Okafor"
CHANGES = "Say which deploy preceded the errors."
APPROVAL = "Suspects match the deploy log; approved."
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


def wait_until_paused(
    server: PrefectServer, process: subprocess.Popen, out_dir: Path, round_: int
) -> str:
    """The flow run id, once the server says the run is Paused for review round `round_`."""
    deadline = time.monotonic() + PAUSE_SECONDS
    run_log = out_dir.parents[1] / "run.log"
    step = f"wait for the pause of round {round_}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"step '{step}': postmortem run exited with {process.returncode} "
                f"before pausing:\n{log_tail(run_log)}"
            )
        status = read_status(out_dir)
        if status and status.state == "waiting" and status.round == round_:
            run = httpx.get(f"{server.api_url}/flow_runs/{status.flow_run_id}", timeout=10).json()
            if run.get("state_type") == "PAUSED":
                return str(status.flow_run_id)
        time.sleep(1)
    pytest.fail(
        f"step '{step}': no Paused run within {PAUSE_SECONDS:.0f} s "
        f"({out_dir / STATUS_FILE}: {read_status(out_dir)}):\n{log_tail(run_log)}"
    )


class ReviewForm:
    """The Resume form of one of the server's two UIs, opened on a paused run.

    V1 is what the link `postmortem pending` prints opens (/runs/flow-run/ID); V2 is what a
    reviewer who opens the server's address lands on (Prefect 3.9's default).
    """

    def __init__(self, page, ui: str, server: PrefectServer, run_id: str) -> None:
        from playwright.sync_api import expect

        self.page, self.ui = page, ui
        if ui == "v1":
            page.goto(f"{server.url}/runs/flow-run/{run_id}")
            expect(page.get_by_text("Paused", exact=True).first).to_be_visible()
            page.get_by_role("button", name="Resume").click()
        else:
            page.goto(f"{server.url}/v2/runs/flow-run/{run_id}")
            expect(page.get_by_text("Paused", exact=True).first).to_be_visible()
            page.get_by_role("button", name="Open menu").click()
            page.get_by_role("menuitem", name="Resume").click()
        self.form = page.get_by_role("dialog")

    def field(self, label: str):
        """The control for a form property, found by its visible label."""
        if self.ui == "v2":
            return self.form.get_by_label(label)
        # V1's <label for=...> points at no input, so get_by_label finds nothing there: find
        # the property by its label's text, then the control inside it.
        prop = self.form.locator(".schema-form-property").filter(
            has=self.page.locator(".schema-form-property__label", has_text=re.compile(f"^{label}"))
        )
        return (
            prop.get_by_role("button").last if label == "Decision" else prop.get_by_role("textbox")
        )

    def choose(self, decision: str) -> None:
        from playwright.sync_api import expect

        control = self.field("Decision")
        control.click()
        try:
            expect(self.page.get_by_role("listbox")).to_be_visible(timeout=3_000)
        except AssertionError:
            # In headless chromium a click on V1's select does not always open its list; the
            # keyboard, which a reviewer may use too, always does.
            control.press("ArrowDown")
        self.page.get_by_role("option", name=decision, exact=True).click()
        expect(control).to_have_text(decision)

    def submit(self) -> None:
        self.form.get_by_role("button", name="Submit" if self.ui == "v1" else "Resume").click()


def review_in_the_ui(
    browser,
    server: PrefectServer,
    run_id: str,
    *,
    ui: str,
    round_: int,
    decision: str,
    comment: str,
    shots: Path,
) -> None:
    """What a reviewer does: open the run, Resume, read the form, fill it, submit it."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(UI_MS)
    # The form's content arrives after the dialog (the UI fetches the run's input schema).
    expect.set_options(timeout=UI_MS)
    shot = shots / f"review_form_{ui}_round{round_}.png"
    step = f"read the draft in the {ui} UI"
    try:
        if ui == "v1":
            # The draft itself is a Markdown artifact of the run: a reviewer reads it there.
            page.goto(f"{server.url}/runs/flow-run/{run_id}")
            page.get_by_text("Artifacts", exact=True).click()
            page.locator("a", has_text=f"round {round_}: awaiting review").first.click()
            expect(page.get_by_role("heading", name=f"{INCIDENT}: Checkout 5xx")).to_be_visible()
            expect(page.get_by_text("Draft, awaiting review. Not published.")).to_be_visible()
            page.screenshot(path=shots / f"draft_artifact_{ui}_round{round_}.png")
            if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
                shutil.copyfile(
                    shots / f"draft_artifact_{ui}_round{round_}.png", DOCS_DRAFT_SCREENSHOT
                )
        step = f"open the review form in the {ui} UI"
        review = ReviewForm(page, ui, server, run_id)
        form = review.form
        expect(form.get_by_role("heading", name=f"Review {INCIDENT}: Checkout 5xx")).to_be_visible()
        expect(form).to_contain_text(f"Round {round_}.")
        # The figures the draft shows, never the analyst's fact references.
        expect(form).to_contain_text("error rate was 66.67%")
        expect(form).not_to_contain_text("{F:")

        step = f"choose {decision!r} in the {ui} UI"
        review.choose(decision)
        step = f"fill the reviewer and the comments in the {ui} UI"
        review.field("Reviewer").fill(REVIEWER)
        review.field("Comments").fill(comment)
        form.screenshot(path=shot)
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
            shutil.copyfile(shot, DOCS_SCREENSHOTS[ui])

        step = f"submit the form in the {ui} UI"
        review.submit()
        expect(form).to_be_hidden()
        if decision == "approve":
            step = f"see the run complete in the {ui} UI"
            expect(page.get_by_text("Completed", exact=True).first).to_be_visible(timeout=90_000)
            page.screenshot(path=shots / "completed.png")
    except Exception as exc:
        failure = shots / f"failure_{ui}_round{round_}.png"
        page.screenshot(path=failure, full_page=True)
        pytest.fail(f"step '{step}' failed ({failure}): {exc}")
    finally:
        expect.set_options(timeout=None)  # back to Playwright's default for other tests
        page.close()


def test_a_reviewer_asks_for_changes_then_approves_in_the_ui_and_the_draft_is_published(
    prefect_server: PrefectServer, browser, tmp_path: Path
) -> None:
    process, out_dir, pub = start_run(prefect_server, tmp_path)
    try:
        run_id = wait_until_paused(prefect_server, process, out_dir, 1)
        review_in_the_ui(
            browser, prefect_server, run_id, ui="v1", round_=1,
            decision="request_changes", comment=CHANGES, shots=tmp_path,
        )  # fmt: skip
        assert wait_until_paused(prefect_server, process, out_dir, 2) == run_id
        assert not pub.exists(), "step 'round 2': something was published before an approval"
        review_in_the_ui(
            browser, prefect_server, run_id, ui="v2", round_=2,
            decision="approve", comment=APPROVAL, shots=tmp_path,
        )  # fmt: skip
        try:
            code = process.wait(FINISH_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"step 'wait for the run to finish': still running {FINISH_SECONDS:.0f} s after "
                f"the approval:\n{log_tail(tmp_path / 'run.log')}"
            )
        assert code == 0, f"step 'run exit': {code}:\n{log_tail(tmp_path / 'run.log')}"
    finally:
        stop(process)

    run = httpx.get(f"{prefect_server.api_url}/flow_runs/{run_id}", timeout=10).json()
    assert run["state_type"] == "COMPLETED", run["state"]
    # The decisions the browser sent are the ones recorded, the last for the exact draft on disk.
    status = read_status(out_dir)
    assert status is not None and status.state == "published"
    assert [(r.round, r.decision, r.reviewer, r.comments) for r in status.history] == [
        (1, "request_changes", REVIEWER, CHANGES),
        (2, "approve", REVIEWER, APPROVAL),
    ]
    record = ReviewRecord.model_validate_json((out_dir / "review.json").read_text())
    draft = out_dir / "draft.md"
    assert record.decision == "approve" and record.draft_sha256 == sha256_file(draft)
    assert CHANGES in draft.read_text(encoding="utf-8")  # round 1's comment, in the notes
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
