"""Shared fixtures: real parts, no network.

S3 is moto's server on 127.0.0.1, reached by boto3 over HTTP. Prefect is the real engine under
one `prefect_test_harness` per session, started only by tests that ask for `prefect_harness`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest

from tasks.synthetic.embedded_s3 import embedded_s3

# Environment for the whole session, restored when it ends. Keys the tests must never see (a real
# AWS profile or an Anthropic key from the developer's shell) are removed; S3 gets dummy keys.
_SESSION_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}
_SESSION_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "ANTHROPIC_API_KEY")


@pytest.fixture(scope="session", autouse=True)
def hermetic_environment() -> Iterator[None]:
    """No test may reach a real AWS account or model, whatever the developer's shell holds."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _SESSION_UNSET:
            mp.delenv(name, raising=False)
        for name, value in _SESSION_ENV.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, for the whole session."""
    with embedded_s3() as endpoint, pytest.MonkeyPatch.context() as mp:
        # boto3 clients made by tests themselves (not through Settings) find the server too.
        mp.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        yield endpoint


@pytest.fixture()
def s3(moto_endpoint: str):
    """A boto3 S3 client pointed at moto's server."""
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture()
def bucket(s3) -> str:
    """A fresh, empty bucket per test, so tests never see each other's objects."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test harness for the session (it costs ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
