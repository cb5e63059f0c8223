"""The shared server helpers: a failed start names the step, the load average and the log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.prefect_server import PrefectServer, clean_env, free_port, stop


def _server(tmp_path: Path, code: str) -> PrefectServer:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    api_url = f"http://127.0.0.1:{free_port()}/api"
    return PrefectServer(api_url, tmp_path, log, {}, process)


def test_a_server_that_exits_fails_naming_the_step_the_load_and_its_log(tmp_path: Path) -> None:
    server = _server(tmp_path, "print('database is locked', flush=True); raise SystemExit(3)")
    with pytest.raises(pytest.fail.Exception) as failed:
        server.ready(timeout=30)
    message = str(failed.value)
    assert "step 'start the Prefect server'" in message
    assert "exited with 3" in message and "1-min load average" in message
    assert "database is locked" in message


def test_a_server_that_never_answers_fails_within_its_bound(tmp_path: Path) -> None:
    server = _server(tmp_path, "import time; time.sleep(60)")
    try:
        with pytest.raises(pytest.fail.Exception, match=r"after 1 s \(1-min load average"):
            server.ready(timeout=1)
    finally:
        stop(server.process, grace=5)
    assert server.process.returncode is not None


def test_the_clean_environment_drops_the_callers_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_FIXTURES_PROBE", "from the shell")
    monkeypatch.setenv("POSTMORTEM_FIXTURES_PROBE", "from the shell")
    env = clean_env(tmp_path, PREFECT_LOGGING_LEVEL="INFO")
    assert "PREFECT_FIXTURES_PROBE" not in env and "POSTMORTEM_FIXTURES_PROBE" not in env
    assert env["PREFECT_HOME"] == str(tmp_path)
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_LOGGING_LEVEL"] == "INFO"
