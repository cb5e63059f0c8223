"""A real `prefect server start` with basic auth refuses an API call without the credential.

This is the setting docker-compose gives the server (PREFECT_SERVER_API_AUTH_STRING), checked on
the real server rather than assumed from the docs.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.infra.prefect_server import AUTH, prefect_server


@pytest.mark.slow
def test_the_api_refuses_a_call_without_the_credential(tmp_path: Path) -> None:
    with (
        prefect_server(tmp_path, services=False) as api,
        httpx.Client(timeout=10) as client,
    ):
        url = f"{api}/flows/filter"
        anonymous = client.post(url, json={})
        wrong = client.post(url, json={}, auth=("user", "guess"))
        right = client.post(url, json={}, auth=AUTH)
        # The one open door, by Prefect's design: GET health and ready, for load balancers.
        health = client.get(f"{api}/health")
        version_anonymous = client.get(f"{api}/admin/version")
        version = client.get(f"{api}/admin/version", auth=AUTH)

    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert right.json() == []  # a fresh database: the call really reached the API
    assert health.status_code == 200
    assert version_anonymous.status_code == 401
    assert version.status_code == 200
