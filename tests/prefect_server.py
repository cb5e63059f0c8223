"""A real `prefect server start` on loopback, shared by tests/infra, tests/serve and tests/ui.

The server, and every process that talks to it, get their Prefect settings through `env=`, never
through this process's `os.environ`: the session's `prefect_harness` lives here and must not be
pointed at another server. Processes started here are ended here, by process group when they lead
one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest

from tasks.synthetic.embedded_s3 import free_port

__all__ = [
    "START_SECONDS",
    "PrefectServer",
    "clean_env",
    "free_port",
    "log_tail",
    "stop",
    "wait_until",
]

#: A loaded 2-core CI machine took 52 s to start the server; this is a bound, not an estimate.
START_SECONDS = 150.0
STEP = "start the Prefect server"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any Prefect or postmortem setting (the developer's
    profile, or an API URL from their shell, must not leak in), a private PREFECT_HOME, then
    `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "POSTMORTEM_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        # A failure message quotes the log: it must hold what the process said before it hung.
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} is missing)"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def _load() -> str:
    return f"1-min load average {os.getloadavg()[0]:.1f}"


def wait_until(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    every: float = 0.5,
) -> Any:
    """Poll `check` until it returns something truthy (returned), or fail naming `what`, the
    load average and the tail of the log of the process that should have made it happen."""
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
                f"gave up waiting for {what}: the process exited with {process.returncode} "
                f"({_load()})\n" + (log_tail(log) if log else "")
            )
        if time.monotonic() >= deadline:
            pytest.fail(
                f"gave up waiting for {what} after {timeout:.0f} s ({_load()})\n"
                + (log_tail(log) if log else "")
            )
        time.sleep(every)


def stop(process: subprocess.Popen, grace: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """Send `sig` to the process, or to its group when it leads one (started with
    `start_new_session=True`: its children go too), then kill it if it hangs."""
    if process.poll() is not None:
        return

    def send(sig: int) -> None:
        try:
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            pass

    send(sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(10)


@dataclass
class PrefectServer:
    """A `prefect server start` process; a context manager that stops it on exit."""

    api_url: str  # http://127.0.0.1:PORT/api
    home: Path
    log: Path
    env: dict[str, str]  # the server's own environment
    process: subprocess.Popen
    healthy: bool = False

    @property
    def url(self) -> str:
        """The UI's address (the API's without /api)."""
        return self.api_url.removesuffix("/api")

    @classmethod
    def start(
        cls,
        home: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> Self:
        """Start the server on `port` (a free loopback port by default) with its own home and
        SQLite database (unless `env` names a database), plus `env` and `args`; return at once
        (call `.ready()` to wait)."""
        home.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        env = env or {}
        database = {}
        # A connection URL would win over the parts (driver, host...) that `env` may give.
        if not any(k.startswith("PREFECT_SERVER_DATABASE_") for k in env):
            database["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = (
                f"sqlite+aiosqlite:///{home / 'prefect.db'}"
            )
        server_env = clean_env(home, **database, **env)
        log = home / "server.log"
        command = [sys.executable, "-m", "prefect", "server", "start"]
        command += ["--host", "127.0.0.1", "--port", str(port), *args]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=server_env,
                # Prefect reads .env and prefect.toml from its working directory.
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(f"http://127.0.0.1:{port}/api", home, log, server_env, process)

    def ready(self, timeout: float = START_SECONDS) -> Self:
        """Wait until the server answers /api/health (callers may do other work meanwhile)."""
        if not self.healthy:
            wait_until(
                self._answers,
                timeout,
                f"step '{STEP}': {self.api_url}/health to answer",
                process=self.process,
                log=self.log,
            )
            self.healthy = True
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop(self.process)
