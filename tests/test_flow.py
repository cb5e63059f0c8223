"""The incident flow end to end on the real Prefect engine, with S3 on moto's server."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows import postmortem as postmortem_flow
from flows.cli import app
from flows.postmortem import artifact_key, incident_postmortem
from flows.run_log import gather_summary
from tasks.contracts import (
    CANONICAL_SCHEMA,
    EvidenceManifest,
    Findings,
    IncidentSpec,
    ObjectStatus,
    Source,
    TimeWindow,
)
from tasks.synthetic.generator import S3Sink, generate_incident, write_outputs

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture()
def seeded(s3, bucket):
    """A small bad-deploy incident in a fresh bucket."""
    return generate_incident(
        "bad-deploy", 3, S3Sink(s3, bucket), source_root=f"s3://{bucket}", scale=0.15
    )


def test_flow_writes_the_output_folder_and_names_the_root_cause(seeded, tmp_path: Path) -> None:
    spec, truth = seeded
    state = incident_postmortem(spec, out=tmp_path, return_state=True)
    result = state.result()

    folder = tmp_path / spec.id
    assert result.out_dir == folder
    for name in (
        "draft.md",
        "draft.html",
        "findings.json",
        "evidence/manifest.json",
        "evidence/logs.parquet",
    ):
        assert (folder / name).is_file(), name

    manifest = EvidenceManifest.model_validate_json((folder / "evidence/manifest.json").read_text())
    read = [o for o in manifest.objects if o.status is ObjectStatus.READ]
    assert read and all(o.sha256 and o.etag and o.size > 0 for o in read)
    assert manifest.stats.skipped_by_reason  # the CloudTrail digest, at least
    assert any(
        "CloudTrail-Digest" in o.key for o in manifest.objects if o.status is ObjectStatus.SKIPPED
    )

    table = pq.read_table(folder / "evidence/logs.parquet")
    assert table.schema.names == CANONICAL_SCHEMA.names
    assert table.num_rows == manifest.stats.rows_kept > 1000

    findings = Findings.model_validate_json((folder / "findings.json").read_text())
    assert findings.suspects[0].service == truth.root_cause_service
    assert result.top_suspect == truth.root_cause_service

    draft = (folder / "draft.md").read_text()
    assert draft.startswith(f"# {spec.id}")
    assert "Draft, awaiting review" in draft
    assert f"**{truth.root_cause_service}**" in draft
    # Every cited object resolves to a manifest entry.
    ids = {o.object_id for o in manifest.objects}
    for suspect in findings.suspects:
        for evidence in suspect.evidence_ids:
            assert evidence.split(":")[0] in ids

    # An operator watching the run in Prefect's UI reads what each stage did.
    logged = run_log_messages(state.state_details.flow_run_id)
    assert gather_summary(manifest.stats) in logged
    assert f"top suspect {truth.root_cause_service}" in next(
        m for m in logged if m.startswith("Baseline: ")
    )
    assert any(m.startswith("Evidence pack: ") for m in logged)
    assert any(m.startswith("Analysis: offline proposed ") for m in logged)
    assert any(m.startswith("Verification: ") for m in logged)


def run_log_messages(flow_run_id) -> list[str]:
    """The messages of a flow run's logs (its tasks' included), as the Prefect API holds them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs]


def test_empty_window_gives_a_draft_that_says_there_was_no_data(seeded, tmp_path: Path) -> None:
    spec, _ = seeded
    far = spec.window.shifted(timedelta(days=-300))
    quiet = spec.model_copy(update={"id": "INC-empty", "window": far})
    result = incident_postmortem(quiet, out=tmp_path)
    draft = result.draft_path.read_text()
    assert "No log lines fell inside the incident window" in draft
    assert result.stats.rows_kept == 0
    assert pq.read_table(result.parquet_path).num_rows == 0


def test_missing_bucket_is_reported_and_other_sources_still_count(seeded, tmp_path: Path) -> None:
    spec, _ = seeded
    missing = Source(name="gone", uri="s3://no-such-bucket-here/logs/")
    spec = spec.model_copy(update={"id": "INC-missing", "sources": [*spec.sources, missing]})
    result = incident_postmortem(spec, out=tmp_path)
    assert len(result.errors) == 1
    assert "no-such-bucket-here" in result.errors[0]
    assert result.stats.read > 0
    assert "no-such-bucket-here" in result.draft_path.read_text()


def test_cli_draft_json_prints_one_object_on_stdout(seeded, tmp_path: Path) -> None:
    spec, truth = seeded
    write_outputs(spec, truth, tmp_path / "inputs")
    runner = CliRunner()
    outcome = runner.invoke(
        app, ["draft", str(tmp_path / "inputs" / "incident.yaml"), "--out", str(tmp_path), "--json"]
    )
    assert outcome.exit_code == 0, outcome.output
    payload = json.loads(outcome.stdout)
    assert payload["incident_id"] == spec.id
    assert Path(payload["draft_path"]).is_file()
    assert payload["top_suspect"] == truth.root_cause_service


def test_cli_exits_3_when_no_source_could_be_read(tmp_path: Path) -> None:
    spec = IncidentSpec(
        id="INC-nothing",
        title="nothing readable",
        window=TimeWindow(start="2026-11-24T13:05:00Z", end="2026-11-24T13:47:00Z"),
        sources=[Source(name="gone", uri="s3://no-such-bucket-here/logs/")],
    )
    path = tmp_path / "incident.json"
    path.write_text(spec.model_dump_json())
    outcome = CliRunner().invoke(app, ["draft", str(path), "--out", str(tmp_path), "--json"])
    assert outcome.exit_code == 3
    assert json.loads(outcome.stdout)["errors"]


def test_artifact_keys_follow_prefects_rules() -> None:
    assert artifact_key("draft", "INC_2041.a") == "draft-inc-2041-a"


def test_settings_are_passed_in_and_recorded_with_the_findings(
    seeded, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, truth = seeded
    write_outputs(spec, truth, tmp_path / "inputs")
    # Without the environment variable, only the --endpoint-url option can find the server.
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("POSTMORTEM_SIGNIFICANCE_LEVEL", "0.05")
    outcome = CliRunner().invoke(
        app,
        [
            "draft",
            str(tmp_path / "inputs" / "incident.yaml"),
            "--out",
            str(tmp_path),
            "--endpoint-url",
            moto_endpoint,
            "--json",
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    assert "AWS_ENDPOINT_URL_S3" not in os.environ  # the option is a setting, not an env write
    findings = Findings.model_validate_json((tmp_path / spec.id / "findings.json").read_text())
    assert findings.settings["s3_endpoint_url"] == moto_endpoint
    assert findings.settings["significance_level"] == 0.05
    assert findings.suspects[0].service == truth.root_cause_service


def test_a_failing_stage_still_ships_a_draft_and_exits_non_zero(
    seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, truth = seeded
    write_outputs(spec, truth, tmp_path / "inputs")

    def broken(*args, **kwargs):
        raise RuntimeError("simulated fault in the window comparison\nsecond line")

    # Our own stage function, not a library's: the flow must survive any stage failing.
    monkeypatch.setattr(postmortem_flow, "findings_from_parquet", broken)
    outcome = CliRunner().invoke(
        app, ["draft", str(tmp_path / "inputs" / "incident.yaml"), "--out", str(tmp_path), "--json"]
    )
    assert outcome.exit_code == 4, outcome.output
    result = json.loads(outcome.stdout)
    assert result["stage_failures"] == [
        {"stage": "baseline", "cause": "RuntimeError: simulated fault in the window comparison"}
    ]
    draft = Path(result["draft_path"]).read_text()
    assert "## Stages that failed" in draft and "simulated fault" in draft
    assert "No log lines fell inside" not in draft  # the data was there; the stage failed
    assert result["stats"]["rows_kept"] > 0  # what gather found is kept
    assert (tmp_path / spec.id / "evidence" / "logs.parquet").is_file()


def test_demo_needs_no_credentials_and_leaves_the_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.demo import run_demo

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    # An empty credentials file: if anything signed a request, botocore would fail to find keys.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    before = dict(os.environ)
    outcome = run_demo("bad-deploy", 3, tmp_path, scale=0.05, log=lambda _: None)
    assert dict(os.environ) == before
    assert outcome.draft.stats.read > 0 and outcome.draft.stats.failed == 0
    assert outcome.top_suspect_correct


def test_reanalyze_uses_the_stored_evidence_and_says_what_changed(seeded, tmp_path: Path) -> None:
    from flows.postmortem import reanalyze_postmortem
    from tasks.errors import StageError
    from tasks.settings import Settings

    spec, truth = seeded
    settings = Settings(analyst="offline", out_dir=tmp_path)
    first = incident_postmortem(spec, settings=settings)
    assert first.analyst == "offline" and first.grounding_rate == 1.0
    parquet_mtime = first.parquet_path.stat().st_mtime_ns
    # With its logs gone, only the stored evidence can feed a re-analysis.
    gone = spec.model_copy(update={"sources": [Source(name="gone", uri="s3://no-such-bucket/")]})
    again = reanalyze_postmortem(gone, settings=settings)
    assert again.reanalysis_changes == []
    assert again.stats == first.stats and again.top_suspect == truth.root_cause_service
    assert first.parquet_path.stat().st_mtime_ns == parquet_mtime
    assert (tmp_path / spec.id / "analysis.previous.json").is_file()
    never_drafted = spec.model_copy(update={"id": "INC-never"})
    with pytest.raises(StageError, match="no stored evidence"):
        reanalyze_postmortem(never_drafted, settings=settings)


def test_reanalyze_ships_a_bare_draft_when_rendering_fails(
    seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.postmortem import reanalyze_postmortem
    from tasks.settings import Settings

    spec, _ = seeded
    settings = Settings(analyst="offline", out_dir=tmp_path)
    incident_postmortem(spec, settings=settings)

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    # Our own render function, not a library's: the re-analysis must survive it like a draft does.
    monkeypatch.setattr(postmortem_flow, "render_draft", broken)
    again = reanalyze_postmortem(spec, settings=settings)
    assert [f.stage for f in again.stage_failures] == ["render"]
    assert "template exploded" in again.draft_path.read_text()
