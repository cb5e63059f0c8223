"""The Slack announcement through a real Prefect SlackWebhook block, posting to a local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tasks.publish import publish
from tasks.settings import Settings
from tests.publish.test_publish import approval, draft_folder

prefect_slack = pytest.importorskip("prefect_slack")
pytestmark = [pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture()
def hook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()


def test_a_new_publication_is_announced_once_through_the_block(tmp_path: Path, hook) -> None:
    url, received = hook
    prefect_slack.SlackWebhook(url=url).save("postmortem-test-slack", overwrite=True)
    settings = Settings(slack_webhook_block="postmortem-test-slack")
    folder = draft_folder(tmp_path)
    pub = publish(folder, approval(folder), [str(tmp_path / "pub")], settings)
    assert [c.target for c in pub.copies][-1] == "slack:postmortem-test-slack"
    assert len(received) == 1
    assert "INC-7" in received[0]["text"] and "alice" in received[0]["text"]
    publish(folder, approval(folder), [str(tmp_path / "pub")], settings)
    assert len(received) == 1


def test_a_missing_block_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    folder = draft_folder(tmp_path)
    settings = Settings(slack_webhook_block="no-such-block")
    pub = publish(folder, approval(folder), [str(tmp_path / "pub")], settings)
    assert pub.copies[0].created
    assert len(pub.warnings) == 1 and pub.warnings[0].startswith("Slack announcement skipped")
