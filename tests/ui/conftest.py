"""A real `prefect server start` on loopback, its UI included, and Debian's chromium to drive it.

Start, health wait and stop are tests/prefect_server.py's; here are the UI's addresses, which
the server and every process that talks to it (through `server.env`) are given.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.prefect_server import PrefectServer, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture()
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PREFECT_API_URL": f"{url}/api",
        "PREFECT_UI_URL": url,
        "PREFECT_UI_API_URL": f"{url}/api",
    }
    with PrefectServer.start(tmp_path_factory.mktemp("prefect-home"), port=port, env=env) as server:
        yield server.ready()


@pytest.fixture()
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # As tests/render/test_draft_in_browser.py: Debian's chromium, no browser download.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
