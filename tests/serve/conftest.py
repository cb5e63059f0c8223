"""A real `prefect server start` on loopback, for the end-to-end tests of `postmortem serve`.

Everything Prefect here runs in subprocesses with an explicit environment (their own
PREFECT_HOME, the server's PREFECT_API_URL), so the session's `prefect_harness`, which lives in
this process's Prefect settings, is never disturbed: nothing here sets PREFECT_API_URL in
`os.environ`. The tests talk to the server over its REST API with plain httpx.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tasks.synthetic.embedded_s3 import free_port

BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT = 150.0
RETRIED = {429, 502, 503}


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} is missing)"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Interrupt the process (Prefect shuts down cleanly on SIGINT), then kill it if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_* setting (the developer's profile, or an
    API URL from their shell, must not leak in), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    log: Path
    process: subprocess.Popen
    healthy: bool = False

    def ready(self) -> PrefectServer:
        """Wait until the server answers /api/health (callers do other work while it starts)."""
        if not self.healthy:
            wait_until(
                lambda: _healthy(self.api_url),
                SERVER_START_TIMEOUT,
                "the Prefect server to answer /api/health",
                process=self.process,
                log=self.log,
            )
            self.healthy = True
        return self

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of a process that talks to this server, with its own PREFECT_HOME
        (profiles, and the results a resumed run reads back)."""
        home.mkdir(parents=True, exist_ok=True)
        return clean_env(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(home),
            # SQLite's "database is locked" (a 503) lasts longer on a busy machine.
            PREFECT_CLIENT_MAX_RETRIES="10",
            **extra,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One REST call, retried as Prefect's own client retries it: SQLite answers "database
        is locked" under concurrent writers, which the server turns into a 503."""
        deadline = time.monotonic() + 60.0
        with httpx.Client(base_url=self.api_url, timeout=30.0) as client:
            while True:
                response = client.request(method, path, **kwargs)
                if response.status_code not in RETRIED or time.monotonic() >= deadline:
                    return response
                time.sleep(1.0)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`prefect server start` on a free loopback port, with its own home and SQLite database.

    It is yielded as soon as the process is started; call `.ready()` before using it.
    """
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    log = home / "server.log"
    env = clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        # The UI's static files are not needed by these tests and cost start-up time.
        PREFECT_SERVER_UI_ENABLED="false",
        # Services these tests never rely on: less work for a busy 2-core machine. The
        # scheduler, triggers, event persister, task-run recorder and pause expirations stay.
        PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED="false",
        PREFECT_SERVER_SERVICES_FOREMAN_ENABLED="false",
        PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED="false",
        PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED="false",
        PREFECT_SERVER_SERVICES_CLEANUP_RECONCILER_ENABLED="false",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield PrefectServer(f"http://127.0.0.1:{port}/api", home, log, process)
    finally:
        stop(process)


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    every: float = 0.5,
) -> Any:
    """Poll `check` until it returns something truthy (returned), or fail naming `what`, with
    the tail of the log of the process that should have made it happen."""
    began = time.monotonic()
    deadline = began + timeout
    while True:
        result = check()
        if result:
            # Shown with the test's output: where the minutes went, when CI is slow.
            print(f"waited {time.monotonic() - began:5.1f} s for {what}")
            return result
        if process is not None and process.poll() is not None:
            pytest.fail(
                f"gave up waiting for {what}: the process exited with {process.returncode}\n"
                + (log_tail(log) if log else "")
            )
        if time.monotonic() >= deadline:
            pytest.fail(
                f"gave up waiting for {what} after {timeout:.0f} s\n"
                + (log_tail(log) if log else "")
            )
        time.sleep(every)
