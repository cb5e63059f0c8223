"""A real `prefect server start` on loopback, for the end-to-end tests of `postmortem serve`.

Everything Prefect here runs in subprocesses with an explicit environment (their own
PREFECT_HOME, the server's PREFECT_API_URL), so the session's `prefect_harness`, which lives in
this process's Prefect settings, is never disturbed. The tests talk to the server over its REST
API with plain httpx. Start, health wait and stop are tests/prefect_server.py's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.prefect_server import PrefectServer, clean_env

BIN = Path(sys.executable).parent
RETRIED = {429, 502, 503}
# The UI's static files are not needed by these tests and cost start-up time. Services these
# tests never rely on are off too: less work for a busy 2-core machine. The scheduler,
# triggers, event persister, task-run recorder and pause expirations stay.
SERVER_ENV = {
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_CLEANUP_RECONCILER_ENABLED": "false",
}


class RestServer(PrefectServer):
    """The server as these tests use it: retried REST calls, and clients with their own home."""

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of a process that talks to this server, with its own PREFECT_HOME
        (profiles, and the results a resumed run reads back)."""
        home.mkdir(parents=True, exist_ok=True)
        return clean_env(
            home,
            PREFECT_API_URL=self.api_url,
            PREFECT_LOGGING_LEVEL="INFO",
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
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestServer]:
    """`prefect server start` on a free loopback port, with its own home and SQLite database.

    It is yielded as soon as the process is started; call `.ready()` before using it.
    """
    with RestServer.start(tmp_path_factory.mktemp("prefect-server"), env=SERVER_ENV) as server:
        yield server
