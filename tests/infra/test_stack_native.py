"""The docker-compose stack of infra/, run for real without Docker, service by service.

There is no Docker engine where the tests run, so each service of infra/docker-compose.yml is
started as a native process, with the command and environment the compose file gives it (read
from the file, so that the test fails when the file drifts): PostgreSQL in a temporary data
directory, `prefect server start` on it with basic auth from an env file written like
infra/.env.example, the bucket initialisation against moto's S3 (standing in for MinIO), the
deploy job (`prefect deploy` of infra/prefect.yaml) and a process worker. An `incident.resolved`
event then starts a run that the worker executes; it drafts and suspends with nothing published.
The worker is recreated as compose recreates a container (only the volumes survive), then
`postmortem review --approve` resumes the run, the new worker runs it again from its persisted
results and it publishes the very draft. The flow run's rows are read from PostgreSQL itself.

What is not exercised: the images (none is built or pulled), MinIO itself and its `mc admin`
user and policy, the container network, and the docker work pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml
from dotenv import dotenv_values

from tasks.synthetic.embedded_s3 import embedded_s3
from tasks.synthetic.generator import generate_incident
from tests.prefect_server import PrefectServer, free_port, log_tail, stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE: dict[str, Any] = yaml.safe_load((INFRA / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
BIN = Path(sys.executable).parent
# Bounds, not expectations: on a quiet 2-core machine each wait takes a fraction of this.
RUN_TIMEOUT = 240.0
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
NO_POSTGRES = (
    "PostgreSQL's initdb and postgres programs were not found (on PATH or in "
    "/usr/lib/postgresql/*/bin): install Debian's postgresql package, as .ci/run does."
)


# --- docker-compose, the parts of it this test needs ------------------------------------------

_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's variable substitution: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}` and
    `${VAR:?error}` (and their forms without the colon)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        value = variables.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if unset and op and op.endswith("?"):
            raise AssertionError(f"compose: {name} is required ({arg})")
        if unset and op and op.endswith("-"):
            return arg
        return value or ""

    return _INTERPOLATION.sub(one, text)


def _as_dict(environment: dict | list | None) -> dict[str, str]:
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {k: "" if v is None else str(v) for k, v in (environment or {}).items()}


def dockerfile_env(path: Path) -> dict[str, str]:
    """The ENV instructions of a Dockerfile (the image's environment), `KEY=value` form."""
    text = re.sub(r"\\\n", " ", path.read_text("utf-8"))
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().upper().startswith("ENV "):
            env.update(item.split("=", 1) for item in shlex.split(line.strip()[4:]))
    return env


@dataclass
class Stack:
    """Where each compose service listens natively, and how its files map to local folders."""

    workdir: Path
    variables: dict[str, str]  # infra/.env, as compose reads it for interpolation
    addresses: dict[str, str]  # "prefect-server:4200" -> "127.0.0.1:53124"
    pg_port: int = 0

    def volume(self, name: str) -> Path:
        path = self.workdir / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def service_env(self, name: str) -> dict[str, str]:
        """The service's environment as compose would give it (image ENV, env_file, then
        `environment`), with service addresses and volume paths made local."""
        service = SERVICES[name]
        env: dict[str, str] = {}
        if service.get("build"):
            env.update(dockerfile_env(ROOT / "infra" / Path(service["build"]["dockerfile"]).name))
        for entry in service.get("env_file", []):
            path = entry["path"] if isinstance(entry, dict) else entry
            # The test's own infra/.env, in its work folder: the tree is not touched.
            env.update({k: v or "" for k, v in dotenv_values(self.workdir / path).items()})
        raw = _as_dict(service.get("environment"))
        env.update({k: interpolate(v, self.variables) for k, v in raw.items()})
        return {k: self.local(v, service.get("volumes", [])) for k, v in env.items()}

    def local(self, value: str, volumes: Sequence[str] = ()) -> str:
        """`value` with container addresses, and paths in the service's named `volumes`,
        replaced by local ones."""
        for container, native in self.addresses.items():
            value = value.replace(container, native)
        # The database's address comes in parts (PREFECT_SERVER_DATABASE_HOST, _PORT).
        if value == "postgres":
            return "127.0.0.1"
        if value == "5432":
            return str(self.pg_port)
        for volume in volumes:
            name, _, mount = volume.partition(":")
            if name.startswith((".", "/")):
                continue  # a bind mount of the repository: not a service's data
            if value == mount or value.startswith(mount + "/"):
                return str(self.volume(name)) + value.removeprefix(mount)
        return value

    def command(self, name: str) -> list[str]:
        """entrypoint + command, as the container would run them."""
        service = SERVICES[name]
        entrypoint, command = service.get("entrypoint") or [], service.get("command") or []
        return [interpolate(part, self.variables) for part in [*entrypoint, *command]]


def write_env_file(path: Path) -> dict[str, str]:
    """infra/.env made the README's way: each distinct change-me placeholder replaced by one
    fresh secret everywhere it appears (so the two auth strings stay equal)."""
    text = (INFRA / ".env.example").read_text("utf-8")
    fresh: dict[str, str] = {}
    text = re.sub(
        r"change-me[a-z-]*",
        lambda m: fresh.setdefault(m.group(0), secrets.token_urlsafe(18)),
        text,
    )
    path.write_text(text, encoding="utf-8")
    return {k: v or "" for k, v in dotenv_values(path).items()}


def container_env(home: Path, env: dict[str, str]) -> dict[str, str]:
    """A process's environment as a container would have it: the service's variables and a bare
    system environment, nothing from this test process (its AWS or Prefect settings)."""
    base = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PREFECT_HOME": str(home / ".prefect"),
        # A failure message quotes the log: it must hold what the process said before it hung.
        "PYTHONUNBUFFERED": "1",
    }
    home.mkdir(parents=True, exist_ok=True)
    return {**base, **env}


# --- the services -------------------------------------------------------------------------------


def _pg_program(name: str) -> str:
    found = shutil.which(name) or next(
        (str(d / name) for d in PG_BIN_DIRS if (d / name).is_file()), None
    )
    if found is None:
        pytest.fail(NO_POSTGRES)
    return found


@dataclass
class Postgres:
    port: int
    user: str
    password: str
    database: str

    def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        import asyncpg

        async def run() -> list[dict[str, Any]]:
            connection = await asyncpg.connect(
                host="127.0.0.1",
                port=self.port,
                user=self.user,
                password=self.password,
                database=self.database,
            )
            try:
                return [dict(r) for r in await connection.fetch(query, *args)]
            finally:
                await connection.close()

        return asyncio.run(run())


@contextlib.contextmanager
def postgres_service(stack: Stack) -> Iterator[Postgres]:
    """The `postgres` service: what the image's entrypoint does with POSTGRES_USER, _PASSWORD
    and _DB (initdb with that superuser and password, then the database), on a loopback port."""
    env = stack.service_env("postgres")
    user, password = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]
    database = env.get("POSTGRES_DB", user)
    initdb, postgres = _pg_program("initdb"), _pg_program("postgres")
    # PostgreSQL refuses to run as root: as root, its files and processes belong to `postgres`.
    as_root = os.geteuid() == 0
    runas = ["runuser", "-u", "postgres", "--"] if as_root else []
    # Outside pytest's tmp folders, which are closed to other users.
    base = Path(tempfile.mkdtemp(prefix="stack-pg-"))
    try:
        (base / "pwfile").write_text(password + "\n")
        if as_root:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(f"There is no `postgres` user to run PostgreSQL as root. {NO_POSTGRES}")
            os.chown(base, owner.pw_uid, owner.pw_gid)
            os.chown(base / "pwfile", owner.pw_uid, owner.pw_gid)
        data = base / "data"
        done = subprocess.run(
            [
                *runas,
                initdb,
                *("-D", str(data), "-U", user, f"--pwfile={base / 'pwfile'}", "-E", "UTF8"),
                *("--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"),
            ],
            cwd=base,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"step 'initdb': {done.stdout}{done.stderr}"
        stack.pg_port = free_port()
        log = base / "postgres.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    *runas,
                    postgres,
                    *("-D", str(data), "-p", str(stack.pg_port), "-k", str(base)),
                    # A throw-away database: durability is not what is tested, disk time is.
                    *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
                ],
                cwd=base,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            # The compose file's own healthcheck, pointed at the native port.
            check = SERVICES["postgres"]["healthcheck"]["test"]
            assert check[0] == "CMD-SHELL", check
            check_env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(stack.pg_port)}

            def healthy() -> bool:
                return (
                    subprocess.run(
                        ["/bin/sh", "-c", check[1]], env=check_env, capture_output=True, check=False
                    ).returncode
                    == 0
                )

            wait_until(healthy, 60.0, "step 'postgres healthcheck'", process=process, log=log)
            pg = Postgres(stack.pg_port, user, password, "postgres")
            if database != "postgres":
                pg.fetch(f'CREATE DATABASE "{database}"')
            yield Postgres(stack.pg_port, user, password, database)
        finally:
            # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for the clients to leave.
            stop(process, sig=signal.SIGINT)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def prefect_server_service(stack: Stack, port: int) -> Iterator[PrefectServer]:
    """The `prefect-server` service, started by the shared helper with the compose command's
    arguments (less the container's host and port) and the compose environment."""
    command = stack.command("prefect-server")
    assert command[:3] == ["prefect", "server", "start"], command
    args, rest = [], iter(command[3:])
    for arg in rest:
        if arg in ("--host", "--port"):
            next(rest)
        else:
            args.append(arg)
    with PrefectServer.start(
        stack.workdir / "prefect-server",
        port=port,
        env=stack.service_env("prefect-server"),
        args=args,
    ) as server:
        yield server


def healthcheck(stack: Stack, name: str) -> subprocess.CompletedProcess:
    """Run a service's compose healthcheck natively (`CMD` form: its program and arguments,
    with service addresses made local)."""
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    command = [sys.executable if word == "python" else stack.local(word) for word in test[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


class _UnderPrefix:
    """Puts generated objects under one key prefix of a bucket."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}{key}", Body=data)


def minio_init(stack: Stack, endpoint: str) -> list[str]:
    """The `minio-init` job's buckets (its `mc mb` line), made in moto's S3 with the root
    account. Its `mc admin` user and policy have no moto equivalent and are not run."""
    script = stack.command("minio-init")[-1]
    [mb] = [line for line in script.splitlines() if line.strip().startswith("mc mb")]
    buckets = [word.split("/", 1)[1] for word in mb.split() if word.startswith("local/")]
    env = stack.service_env("minio-init")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=env["MINIO_ROOT_USER"],
        aws_secret_access_key=env["MINIO_ROOT_PASSWORD"],
    )
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    return buckets


def deploy_flows(stack: Stack) -> subprocess.CompletedProcess:
    """The `deploy-flows` job: its shell script, run from the repository root (the image's
    WORKDIR holds the same files)."""
    command = stack.command("deploy-flows")
    env = container_env(stack.workdir / "deploy-home", stack.service_env("deploy-flows"))
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def start_worker(stack: Stack, name: str) -> tuple[subprocess.Popen, Path]:
    """The `worker` service, as a fresh container: its own empty home (everything outside the
    compose file's volumes is lost when a container is recreated)."""
    env = container_env(stack.workdir / name, stack.service_env("worker"))
    # Test speed only: the worker asks for new runs every 2 s instead of every 10 s.
    env["PREFECT_WORKER_QUERY_SECONDS"] = "2"
    log = stack.workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            stack.command("worker"),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


@dataclass
class Running:
    stack: Stack
    server: PrefectServer
    postgres: Postgres
    s3: Any
    buckets: list[str]
    shell_env: dict[str, str]  # "your own shell": the API URL and the credential
    auth: tuple[str, str]
    worker: subprocess.Popen | None = None
    worker_log: Path | None = None

    def recreate_worker(self, name: str) -> None:
        if self.worker is not None:
            stop(self.worker)
        self.worker, self.worker_log = start_worker(self.stack, name)

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop(self.worker)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The whole stack, in the compose file's order; every process is ended on the way out."""
    workdir = tmp_path_factory.mktemp("stack")
    variables = write_env_file(workdir / ".env")
    server_port = free_port()
    with contextlib.ExitStack() as stack_of:
        endpoint = stack_of.enter_context(embedded_s3())
        stack = Stack(
            workdir,
            variables,
            {
                "prefect-server:4200": f"127.0.0.1:{server_port}",
                "127.0.0.1:4200": f"127.0.0.1:{server_port}",
                "minio:9000": endpoint.removeprefix("http://"),
            },
        )
        postgres = stack_of.enter_context(postgres_service(stack))
        server = stack_of.enter_context(prefect_server_service(stack, server_port))
        buckets = minio_init(stack, endpoint)  # while the server starts
        server.ready()
        # Basic auth must leave the health endpoint open, or compose never starts the rest.
        checked = healthcheck(stack, "prefect-server")
        assert checked.returncode == 0, f"prefect-server healthcheck: {checked.stderr}"

        began = time.monotonic()
        deployed = deploy_flows(stack)
        print(f"deploy-flows took {time.monotonic() - began:5.1f} s")
        assert deployed.returncode == 0, (
            f"step 'deploy-flows' exited {deployed.returncode}:\n"
            f"{deployed.stdout[-3000:]}{deployed.stderr[-3000:]}"
        )

        auth_string = variables["PREFECT_API_AUTH_STRING"]
        user, _, password = auth_string.partition(":")
        shell_env = container_env(
            workdir / "shell-home",
            {
                "PREFECT_API_URL": server.api_url,
                "PREFECT_API_AUTH_STRING": auth_string,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            },
        )
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        running = Running(stack, server, postgres, s3, buckets, shell_env, (user, password))
        stack_of.callback(running.stop_worker)
        running.recreate_worker("worker")
        yield running


# --- the test -----------------------------------------------------------------------------------


def _published(running: Running, bucket: str) -> list[str]:
    listed = running.s3.list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.mark.slow
def test_the_compose_stack_runs_an_incident_through_review_on_postgres(running: Running) -> None:
    logs_bucket, publish_bucket = running.buckets
    spec, _ = generate_incident(
        "bad-deploy",
        5,
        _UnderPrefix(running.s3, logs_bucket, "logs/"),
        source_root=f"s3://{logs_bucket}/logs",
        scale=0.02,
    )
    api = running.server.api_url
    with httpx.Client(base_url=api, auth=running.auth, timeout=30.0) as client:
        deployment = client.get("/deployments/name/postmortem-run/incident-postmortem")
        assert deployment.status_code == 200, deployment.text
        deployment_id = deployment.json()["id"]
        weekly = client.get("/deployments/name/weekly-review/weekly-review").json()
        assert [s["schedule"]["cron"] for s in weekly["schedules"]] == ["0 9 * * 1"]
        # The deploy job's directory: the image's WORKDIR in compose, the checkout here.
        [pull] = deployment.json()["pull_steps"]
        assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
        event = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": "incident.resolved",
            "resource": {"prefect.resource.id": f"incident.{spec.id}"},
            "payload": spec.model_dump(mode="json"),
        }
        assert client.post("/events", json=[event]).status_code == 204

        def runs() -> list[dict]:
            body = {"deployments": {"id": {"any_": [deployment_id]}}}
            response = client.post("/flow_runs/filter", json=body)
            response.raise_for_status()
            return response.json()

        def state_of(run_id: str, *wanted: str) -> dict | None:
            run = client.get(f"/flow_runs/{run_id}").json()
            state = run.get("state") or {}
            if state.get("type") in ("FAILED", "CRASHED"):
                pytest.fail(
                    f"run {run_id} ended {state.get('name')}: {state.get('message')}\n"
                    + log_tail(running.worker_log, 80)
                )
            return run if state.get("type") in wanted else None

        [run] = wait_until(
            runs, 60.0, "the event to start a run", process=running.worker, log=running.worker_log
        )
        paused = wait_until(
            lambda: state_of(run["id"], "PAUSED"),
            RUN_TIMEOUT,
            f"run {run['id']} to wait for review",
            process=running.worker,
            log=running.worker_log,
        )
        assert paused["state"]["name"] == "Suspended"
        # Executed by the process worker of the compose file's pool.
        assert paused["work_pool_name"] == "postmortem-process"
        assert paused["infrastructure_pid"], paused
        assert _published(running, publish_bucket) == []

        # While the draft waits, compose recreates the worker's container (an upgrade, a
        # reboot): the resumed run must still find the results it persisted.
        running.recreate_worker("worker-recreated")

        began = time.monotonic()
        approved = subprocess.run(
            [
                BIN / "postmortem",
                "review",
                run["id"],
                "--approve",
                "--reviewer",
                "erin",
                "--wait=150",
            ],
            env=running.shell_env,
            cwd=running.stack.workdir,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert approved.returncode == 0, approved.stdout + approved.stderr
        print(f"postmortem review --approve took {time.monotonic() - began:5.1f} s")
        wait_until(
            lambda: state_of(run["id"], "COMPLETED"),
            RUN_TIMEOUT,
            f"run {run['id']} to publish",
            process=running.worker,
            log=running.worker_log,
        )

    out_dir = Path(running.stack.service_env("worker")["POSTMORTEM_OUT_DIR"])
    draft = out_dir / spec.id / "draft.md"
    key = f"published/postmortems/{spec.id}/v1/draft.md"
    assert key in _published(running, publish_bucket)
    body = running.s3.get_object(Bucket=publish_bucket, Key=key)["Body"].read()
    assert body == draft.read_bytes()

    # The server kept the run in PostgreSQL, not in a SQLite file of its own.
    rows = running.postgres.fetch(
        "SELECT fr.state_type::text AS state, d.name AS deployment FROM flow_run fr"
        " JOIN deployment d ON d.id = fr.deployment_id WHERE fr.id = $1",
        uuid.UUID(run["id"]),
    )
    assert rows == [{"state": "COMPLETED", "deployment": "incident-postmortem"}], rows
    history = running.postgres.fetch(
        'SELECT name FROM flow_run_state WHERE flow_run_id = $1 ORDER BY "timestamp"',
        uuid.UUID(run["id"]),
    )
    names = [h["name"] for h in history]
    assert names.index("Suspended") < names.index("Completed"), names
    # Resumed from the top, the run took the logs and the analysis from its stored results
    # rather than reading S3 and calling the analyst again.
    tasks = running.postgres.fetch(
        "SELECT task_key, state_name FROM task_run WHERE flow_run_id = $1 ORDER BY start_time",
        uuid.UUID(run["id"]),
    )
    for stage in ("gather", "analysis"):
        states = [t["state_name"] for t in tasks if t["task_key"].startswith(stage)]
        assert states[-1:] == ["Cached"], (stage, tasks)
    assert not list((running.stack.workdir / "prefect-server").glob("*.db"))


# --- the compose reading above, checked on its own (fast) --------------------------------------


def test_interpolation_follows_compose() -> None:
    variables = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:?missing} $SET $$SET", variables) == "v v $SET"
    assert interpolate("${EMPTY:-d}|${EMPTY-d}|${UNSET-d}|${UNSET:-}", variables) == "d||d|"
    with pytest.raises(AssertionError, match="UNSET is required"):
        interpolate("${UNSET:?set UNSET in infra/.env}", variables)
    with pytest.raises(AssertionError, match="EMPTY is required"):
        interpolate("${EMPTY:?empty}", variables)


def test_the_image_environment_is_read_from_the_dockerfile() -> None:
    env = dockerfile_env(INFRA / "Dockerfile")
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["POSTMORTEM_OUT_DIR"] == "/data/postmortems"


def test_services_are_given_local_addresses_and_folders(tmp_path: Path) -> None:
    variables = write_env_file(tmp_path / ".env")
    stack = Stack(tmp_path, variables, {"prefect-server:4200": "127.0.0.1:1234"}, pg_port=5555)
    worker = stack.service_env("worker")
    assert worker["PREFECT_API_URL"] == "http://127.0.0.1:1234/api"
    assert worker["POSTMORTEM_OUT_DIR"] == str(tmp_path / "volumes" / "postmortem-drafts")
    assert worker["AWS_SECRET_ACCESS_KEY"] == variables["WORKER_SECRET_KEY"]
    assert "change-me" not in worker["AWS_SECRET_ACCESS_KEY"]
    server = stack.service_env("prefect-server")
    # The env file's auth string reaches the server; the two strings of the example stay equal.
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == variables["PREFECT_API_AUTH_STRING"]
    assert (server["PREFECT_SERVER_DATABASE_HOST"], server["PREFECT_SERVER_DATABASE_PORT"]) == (
        "127.0.0.1",
        "5555",
    )


def test_a_missing_postgres_fails_the_run_saying_what_to_install() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"install Debian's postgresql package"):
        _pg_program("no-such-postgres-program")
