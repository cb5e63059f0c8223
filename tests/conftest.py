"""Shared fixtures: real parts, no network.

S3 is moto's server on 127.0.0.1, reached by boto3 over HTTP. Prefect is the real engine under
one `prefect_test_harness` per session, started only by tests that ask for `prefect_harness`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tasks.synthetic.embedded_s3 import embedded_s3

DATA = Path(__file__).parent / "data"

# No test may reach a real AWS account, whatever the developer's shell holds.
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_var, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("ANTHROPIC_API_KEY", None)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, for the whole session."""
    previous = os.environ.get("AWS_ENDPOINT_URL_S3")
    with embedded_s3() as endpoint:
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
        try:
            yield endpoint
        finally:
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL_S3", None)
            else:
                os.environ["AWS_ENDPOINT_URL_S3"] = previous


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
