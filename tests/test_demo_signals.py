"""`kill PID` on the demo's background process must let it clean up (Prefect's ephemeral API is
a child process that was otherwise left running)."""

from __future__ import annotations

import subprocess
import sys

_KILLED = """
import atexit, os, signal, sys, time
if sys.argv[1] == "orderly":
    from flows.demo import exit_on_sigterm
    exit_on_sigterm()
atexit.register(lambda: print("cleaned up", flush=True))
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(30)
"""


def _killed(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _KILLED, mode], capture_output=True, text=True, timeout=120
    )


def test_sigterm_runs_the_exit_handlers_of_the_demo_process() -> None:
    default = _killed("default")
    assert default.returncode == -15 and "cleaned up" not in default.stdout
    orderly = _killed("orderly")
    assert orderly.returncode == 143 and "cleaned up" in orderly.stdout
