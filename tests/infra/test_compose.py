"""infra/docker-compose.yml holds together without Docker: its services, where its secrets come
from, and what stays out of git. (No Docker daemon runs where the tests run, so the stack itself
is not started here; test_server_auth.py checks the server's basic auth on a real server.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import prefect
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE_TEXT = (INFRA / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
EXAMPLE = INFRA / ".env.example"

# Names whose values are secrets: they may only be interpolated from infra/.env.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|AUTH_STRING|API_KEY|ACCESS_KEY", re.IGNORECASE)
# An access key is a user name: only the values that must be kept secret are placeholders.
PLACEHOLDER_NAME = re.compile(r"PASSWORD|SECRET|AUTH_STRING|API_KEY", re.IGNORECASE)
INTERPOLATED = re.compile(r"^\$\{[A-Z0-9_]+(:?[?-][^}]*)?\}$")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _env_files(service: dict[str, Any]) -> list[str]:
    files = service.get("env_file", [])
    files = files if isinstance(files, list) else [files]
    return [f["path"] if isinstance(f, dict) else f for f in files]


def _example_values() -> dict[str, str]:
    values = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_the_stack_has_its_services() -> None:
    assert {"postgres", "prefect-server", "worker", "minio", "minio-init", "deploy-flows"} <= set(
        SERVICES
    )


def test_the_server_runs_on_postgres_and_reads_its_auth_from_the_env_file() -> None:
    server = SERVICES["prefect-server"]
    assert ".env" in _env_files(server)
    env = _environment(server)
    # The credential is in the env file, never written into the compose file.
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env
    assert env["PREFECT_SERVER_DATABASE_DRIVER"] == "postgresql+asyncpg"
    assert env["PREFECT_SERVER_DATABASE_HOST"] == "postgres"
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "PREFECT_SERVER_API_AUTH_STRING" in _example_values()


def test_every_client_of_the_api_sends_the_credential() -> None:
    clients = [name for name, s in SERVICES.items() if "PREFECT_API_URL" in _environment(s)]
    assert {"worker", "deploy-flows", "docker-worker"} <= set(clients)
    for name in clients:
        assert _environment(SERVICES[name])["PREFECT_API_AUTH_STRING"].startswith(
            "${PREFECT_API_AUTH_STRING"
        ), name


def _literal_secrets(services: dict[str, Any]) -> list[str]:
    """The secret-named variables whose value is written out instead of read from infra/.env."""
    return [
        f"{name}.{key}"
        for name, service in services.items()
        for key, value in _environment(service).items()
        if SECRET_NAME.search(key) and not INTERPOLATED.match(value)
    ]


def test_no_secret_is_written_into_the_file() -> None:
    assert _literal_secrets(SERVICES) == []


@pytest.mark.parametrize(
    "environment",
    [
        {"PREFECT_SERVER_API_AUTH_STRING": "admin:hunter2"},
        ["POSTGRES_PASSWORD=hunter2"],
        {"AWS_SECRET_ACCESS_KEY": "abc${WORKER_SECRET_KEY}"},
    ],
)
def test_a_literal_secret_would_be_caught(environment: Any) -> None:
    assert _literal_secrets({"x": {"environment": environment}}) != []


def test_the_example_values_are_placeholders_that_the_compose_file_does_not_contain() -> None:
    values = _example_values()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_TEXT))
    assert required <= set(values), "every required variable is in .env.example"
    for name, value in values.items():
        if PLACEHOLDER_NAME.search(name) and value:
            assert "change-me" in value, f"{name} in .env.example looks like a real secret"
            assert value not in COMPOSE_TEXT


def test_the_env_file_is_git_ignored_and_the_example_is_not() -> None:
    def ignored(path: str) -> bool:
        result = subprocess.run(
            ["git", "check-ignore", "--quiet", "--no-index", path], cwd=ROOT, check=False
        )
        return result.returncode == 0

    assert ignored("infra/.env")
    assert not ignored("infra/.env.example")


def test_ports_are_published_on_loopback_only() -> None:
    # Basic auth over plain HTTP is readable on the wire: no port is opened beyond the host.
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_the_server_image_matches_the_installed_prefect() -> None:
    # A newer client than server fails with 422s; the image tag follows the pinned package.
    image = SERVICES["prefect-server"]["image"]
    assert image.startswith("prefecthq/prefect:")
    tag_version = image.split(":", 1)[1].split("-", 1)[0]
    assert tag_version.split(".")[:2] == prefect.__version__.split(".")[:2]


def test_the_worker_uses_its_own_minio_account_not_root() -> None:
    env = _environment(SERVICES["worker"])
    assert env["AWS_ACCESS_KEY_ID"] == "${WORKER_ACCESS_KEY:?set WORKER_ACCESS_KEY in infra/.env}"
    assert "MINIO_ROOT" not in " ".join(env.values())
    assert not _env_files(SERVICES["worker"]), "an env_file would hand it the root password"


def test_the_worker_runs_the_image_built_from_infra_dockerfile() -> None:
    for name in ("worker", "deploy-flows"):
        service = SERVICES[name]
        assert service["image"] == "postmortem-flows:latest", name
        assert service["build"] == {"context": "..", "dockerfile": "infra/Dockerfile"}, name
    assert (INFRA / "Dockerfile").is_file()
