"""A real `prefect server start` on loopback, its UI included, and Debian's chromium to drive it.

The server and every process that talks to it get their Prefect settings through `env=`, never
through this process's `os.environ`: the session's `prefect_harness` lives here, and must not
be pointed at another server. Everything is torn down by process group, started and ended here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: A busy 2-core CI machine needs most of a minute to start the server (and copy the UI once).
SERVER_START_SECONDS = 150.0


@dataclass(frozen=True)
class PrefectServer:
    url: str  # the UI, e.g. http://127.0.0.1:4711
    api_url: str  # url + /api
    env: dict[str, str]  # for a subprocess that should use this server
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This process's environment without any Prefect or postmortem setting it may carry."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "POSTMORTEM_"))}


def stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """End a process started with `start_new_session=True`, and its children, by its group."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


@pytest.fixture()
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env() | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"{url}/api",
        "PREFECT_UI_URL": url,
        "PREFECT_UI_API_URL": f"{url}/api",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = home / "server.log"
    command = [sys.executable, "-m", "prefect", "server", "start"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"step 'start the Prefect server': it exited with {process.returncode}:\n"
                    + tail(log)
                )
            try:
                if httpx.get(f"{url}/api/health", timeout=5).json() is True:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"step 'start the Prefect server': {url}/api/health did not answer within "
                    f"{SERVER_START_SECONDS:.0f} s:\n" + tail(log)
                )
            time.sleep(1)
        yield PrefectServer(url=url, api_url=f"{url}/api", env=env, log=log)
    finally:
        stop(process)


@pytest.fixture()
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # As tests/render/test_draft_in_browser.py: Debian's chromium, no browser download.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
