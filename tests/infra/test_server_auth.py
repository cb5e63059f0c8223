"""A real `prefect server start` with basic auth refuses an API call without the credential.

This is the setting docker-compose gives the server (PREFECT_SERVER_API_AUTH_STRING), checked on
the real server rather than assumed from the docs. The server runs in a subprocess with its own
environment: the pytest process's PREFECT_* variables belong to the session's harness.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

AUTH = ("user", "pass")
# The whole test stays under a minute: the server gets 50 s to start. Most of that is importing
# Prefect and migrating a fresh SQLite database; with eight jobs sharing two cores (load average
# 18-23) it took 52 s, so a failure there names the load average beside the server's log.
STARTUP_SECONDS = 50.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_API_AUTH_STRING=":".join(AUTH),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


@pytest.fixture()
def authed_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-services"]
    process = subprocess.Popen(
        command, env=_server_env(tmp_path / "home"), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"prefect server exited early: {_tail(tmp_path / 'server.log')}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                load = os.getloadavg()[0]
                pytest.fail(
                    f"prefect server did not answer within {STARTUP_SECONDS:.0f} s "
                    f"(1-min load average {load:.1f}): {_tail(tmp_path / 'server.log')}"
                )
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-2000:]


@pytest.mark.slow
def test_the_api_refuses_a_call_without_the_credential(authed_server: str) -> None:
    url = f"{authed_server}/flows/filter"
    with httpx.Client(timeout=10) as client:
        anonymous = client.post(url, json={})
        wrong = client.post(url, json={}, auth=("user", "guess"))
        right = client.post(url, json={}, auth=AUTH)
        # The one open door, by Prefect's design: GET health and ready, for load balancers.
        health = client.get(f"{authed_server}/health")
        version_anonymous = client.get(f"{authed_server}/admin/version")
        version = client.get(f"{authed_server}/admin/version", auth=AUTH)

    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert right.json() == []  # a fresh database: the call really reached the API
    assert health.status_code == 200
    assert version_anonymous.status_code == 401
    assert version.status_code == 200
