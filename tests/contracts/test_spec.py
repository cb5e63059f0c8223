"""IncidentSpec and Settings: loading, and errors that name the field at fault."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks.contracts import IncidentSpec, LogFormat
from tasks.errors import SpecError
from tasks.settings import load_settings

GOOD = """\
id: INC-2041
title: Checkout 5xx after deploy
severity: SEV2
window: {start: 2026-11-24T13:05:00Z, end: 2026-11-24T14:47:00+01:00}
services: [checkout]
sources:
  - name: app
    uri: s3://acme-logs/fluent-bit-logs/
    format: fluentbit-k8s
  - name: local
    uri: ./logs
ai_dependencies: [llm-gateway]
"""


def write(tmp_path: Path, text: str, name: str = "incident.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str, name: str = "incident.yaml") -> str:
    with pytest.raises(SpecError) as info:
        IncidentSpec.from_file(write(tmp_path, text, name))
    return str(info.value)


def test_yaml_spec_loads_and_normalises_to_utc(tmp_path: Path) -> None:
    spec = IncidentSpec.from_file(write(tmp_path, GOOD))
    assert spec.window.start == datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
    assert spec.window.end == datetime(2026, 11, 24, 13, 47, tzinfo=UTC)
    assert spec.window.minutes == 42
    assert spec.sources[0].bucket == "acme-logs"
    assert spec.sources[0].prefix == "fluent-bit-logs/"
    assert spec.sources[1].format is LogFormat.AUTO
    # A relative path is taken from the spec file's folder, not the working directory.
    assert spec.sources[1].local_path == tmp_path / "logs"


def test_json_spec_loads(tmp_path: Path) -> None:
    data = {
        "id": "INC-1",
        "title": "t",
        "window": {"start": "2026-11-24T13:05:00Z", "end": "2026-11-24T13:06:00Z"},
        "sources": [{"name": "app", "uri": "file:///var/log/app"}],
    }
    spec = IncidentSpec.from_file(write(tmp_path, json.dumps(data), "incident.json"))
    assert spec.sources[0].local_path == Path("/var/log/app")
    assert spec.severity == "SEV3"


def test_naive_timestamp_is_refused_naming_the_field(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace("2026-11-24T13:05:00Z", "2026-11-24T13:05:00"))
    assert "window.start" in message
    assert "no timezone" in message


def test_end_must_follow_start(tmp_path: Path) -> None:
    message = load_error(tmp_path, GOOD.replace("14:47:00+01:00", "13:00:00Z"))
    assert "window" in message
    assert "must be after start" in message


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("INC-2041", "INC 2041/../x", "id", "letters, digits"),
        (
            "format: fluentbit-k8s",
            "format: protobuf",
            "sources[0].format",
            "unknown value 'protobuf'",
        ),
        (
            "s3://acme-logs/fluent-bit-logs/",
            "https://acme-logs/x",
            "sources[0].uri",
            "unsupported scheme",
        ),
        ("s3://acme-logs/fluent-bit-logs/", "s3://A_B/x", "sources[0].uri", "valid S3 bucket"),
        ("severity: SEV2", "severity: SEV9", "severity", "SEV1"),
        ("name: local", "name: app", "sources", "repeated: app"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, old: str, new: str, field: str, words: str) -> None:
    message = load_error(tmp_path, GOOD.replace(old, new))
    assert field in message
    assert words in message


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    assert "windw" in load_error(tmp_path, GOOD + "windw: {}\n")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        IncidentSpec.from_file(tmp_path / "missing.yaml")
    assert "not valid" in load_error(tmp_path, "id: [unclosed\n")
    assert "expected a mapping" in load_error(tmp_path, "- a\n- b\n")


def test_settings_from_toml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "postmortem.toml"
    toml.write_text("late_delivery_margin_minutes = 30\ndownload_concurrency = 4\n")
    monkeypatch.setenv("POSTMORTEM_CONFIG", str(toml))
    monkeypatch.setenv("POSTMORTEM_DOWNLOAD_CONCURRENCY", "16")
    settings = load_settings()
    assert settings.late_delivery_margin_minutes == 30  # from the file
    assert settings.download_concurrency == 16  # the environment wins over the file


def test_settings_reject_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTMORTEM_MAX_LINE_BYTES", "10")
    with pytest.raises(ValueError, match="max_line_bytes"):
        load_settings()


def test_a_typo_in_the_settings_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "postmortem.toml"
    toml.write_text("late_delivery_margin_minute = 30\n")
    monkeypatch.setenv("POSTMORTEM_CONFIG", str(toml))
    with pytest.raises(ValueError, match="late_delivery_margin_minute"):
        load_settings()


def test_a_binary_or_non_utf8_spec_is_one_sentence(tmp_path: Path) -> None:
    for name, raw in [
        ("binary.yaml", bytes(range(256)) * 4),
        ("latin1.yaml", GOOD.replace("title: ", "title: café ").encode("latin-1")),
    ]:
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(SpecError) as info:
            IncidentSpec.from_file(path)
        message = str(info.value)
        assert message.startswith(f"{path}: not a text file in UTF-8 (byte 0x")
        assert "\n" not in message


def test_utf16_and_bom_specs_load(tmp_path: Path) -> None:
    for codec in ("utf-16", "utf-8-sig"):
        path = tmp_path / f"{codec}.yaml"
        path.write_bytes(GOOD.encode(codec))
        assert IncidentSpec.from_file(path).sources[0].bucket == "acme-logs"


def test_relative_sources_are_taken_from_the_spec_folder_whatever_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_dir = tmp_path / "incidents"
    spec_dir.mkdir()
    text = GOOD.replace("uri: ./logs", "uri: logs/OS-001").replace(
        "    format: fluentbit-k8s\n",
        "    format: fluentbit-k8s\n  - name: far\n    uri: file://../elsewhere\n"
        "  - name: home\n    uri: ~/logs\n  - name: abs\n    uri: /var/log/app\n",
    )
    write(spec_dir, text)
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    spec = IncidentSpec.from_file(Path("incidents") / "incident.yaml")
    by_name = {s.name: s for s in spec.sources}
    assert by_name["local"].local_path == spec_dir.absolute() / "logs" / "OS-001"
    assert by_name["far"].uri == f"file://{spec_dir.absolute()}/../elsewhere"
    assert by_name["home"].uri == "~/logs"
    assert by_name["abs"].uri == "/var/log/app"
    assert by_name["app"].uri == "s3://acme-logs/fluent-bit-logs/"


def test_service_pattern_needs_a_valid_regex_with_a_service_group(tmp_path: Path) -> None:
    ok = GOOD.replace(
        "    uri: ./logs\n", "    uri: ./logs\n    service_pattern: '^(?P<service>[^/]+)/'\n"
    )
    assert IncidentSpec.from_file(write(tmp_path, ok)).sources[1].service_pattern
    no_group = ok.replace("(?P<service>[^/]+)", "([^/]+)")
    assert "has no named group `service`" in load_error(tmp_path, no_group)
    broken = ok.replace("(?P<service>[^/]+)", "(?P<service>[^/]+")
    assert "sources[1].service_pattern" in load_error(tmp_path, broken)
