"""A real `prefect server start` in a subprocess, with basic auth, for the infra tests.

The server gets its own environment: the pytest process's PREFECT_* variables belong to the
session's harness and are neither read nor changed here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

AUTH = ("user", "pass")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_* variable, plus a private PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        **extra,
    )
    return env


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-2000:]


@contextmanager
def prefect_server(workdir: Path, *, services: bool, startup_seconds: float) -> Iterator[str]:
    """Start the server on a free loopback port; yield its API URL; stop it."""
    port = free_port()
    log_path = workdir / "server.log"
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port)] + ([] if services else ["--no-services"])
    env = prefect_env(
        workdir / "home",
        PREFECT_SERVER_API_AUTH_STRING=":".join(AUTH),
        PREFECT_SERVER_UI_ENABLED="false",
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/api"
        try:
            deadline = time.monotonic() + startup_seconds
            while True:
                if process.poll() is not None:
                    pytest.fail(f"prefect server exited early: {_tail(log_path)}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"prefect server did not answer within {startup_seconds:.0f} s "
                        f"(1-min load average {os.getloadavg()[0]:.1f}): {_tail(log_path)}"
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
