"""The infra tests' server: basic auth on, UI off (as docker-compose runs it).

Start, health wait and stop are tests/prefect_server.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.prefect_server import PrefectServer

AUTH = ("user", "pass")


@contextmanager
def prefect_server(workdir: Path, *, services: bool) -> Iterator[str]:
    """Start the server with basic auth; yield its API URL once it answers; stop it."""
    env = {"PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH), "PREFECT_SERVER_UI_ENABLED": "false"}
    args = [] if services else ["--no-services"]
    with PrefectServer.start(workdir / "home", env=env, args=args) as server:
        yield server.ready().api_url
