"""The command line without Prefect: argument errors, and `postmortem patterns`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_bad_spec_exits_2_with_one_sentence_naming_the_field(tmp_path: Path) -> None:
    spec = tmp_path / "incident.yaml"
    spec.write_text(
        "id: INC-1\ntitle: t\nwindow: {start: 2026-11-24T13:05:00, end: 2026-11-24T13:47:00Z}\n"
        "sources: [{name: app, uri: s3://acme-logs/x}]\n"
    )
    outcome = runner.invoke(app, ["draft", str(spec)])
    assert outcome.exit_code == 2
    assert "window.start" in outcome.stderr
    assert "no timezone" in outcome.stderr
    assert outcome.stdout == ""


def test_unknown_demo_scenario_is_refused() -> None:
    outcome = runner.invoke(app, ["demo", "--scenario", "meteor-strike"])
    assert outcome.exit_code == 2
    assert "bad-deploy" in outcome.stderr


def test_patterns_prints_one_json_line_per_input_line() -> None:
    path = DATA / "loghub-2k" / "OpenSSH" / "OpenSSH_2k.log"
    outcome = runner.invoke(app, ["patterns", str(path), "--format", "text"])
    assert outcome.exit_code == 0, outcome.stderr
    records = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert len(records) == 2000
    assert [r["line"] for r in records] == list(range(1, 2001))
    lines = path.read_text().splitlines()
    invalid_user = [n for n, text in enumerate(lines, 1) if ": Invalid user " in text]
    accepted = [n for n, text in enumerate(lines, 1) if ": Accepted password for " in text]
    assert len(invalid_user) > 10 and accepted
    by_line = {r["line"]: r for r in records}
    # The same event with other users and addresses shares one pattern, and no other.
    assert len({by_line[n]["pattern_id"] for n in invalid_user}) == 1
    assert by_line[invalid_user[0]]["pattern_id"] != by_line[accepted[0]]["pattern_id"]
    assert "<*>" in by_line[invalid_user[0]]["pattern"]


def test_patterns_on_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    outcome = runner.invoke(app, ["patterns", str(tmp_path / "nope.log")])
    assert outcome.exit_code == 2
    assert "nope.log" in outcome.stderr


def test_patterns_on_awkward_files_work_or_exit_2_with_one_sentence(tmp_path: Path) -> None:
    long_lines = "".join(f"2026-01-05T10:00:{i:02d}Z INFO {'é漢' * 3000} {i}\n" for i in range(5))
    (tmp_path / "long.log").write_text(long_lines)
    (tmp_path / "utf16.log").write_text(long_lines[:2000] + "\n", encoding="utf-16")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 400)
    for name in ("long.log", "utf16.log", "binary.bin"):
        outcome = runner.invoke(app, ["patterns", str(tmp_path / name)])
        assert outcome.exit_code == 0, (name, outcome.stderr)
        assert all(json.loads(line)["line"] for line in outcome.stdout.splitlines())
    utf16 = [
        json.loads(line)
        for line in runner.invoke(
            app, ["patterns", str(tmp_path / "utf16.log")]
        ).stdout.splitlines()
    ]
    assert "\\u0000" not in json.dumps(utf16) and utf16[0]["pattern"].startswith("é漢")
    (tmp_path / "fake.log.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    outcome = runner.invoke(app, ["patterns", str(tmp_path / "fake.log.gz")])
    assert outcome.exit_code == 2
    assert "fake.log.gz: cannot be read to the end: corrupt gzip" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_draft_with_a_binary_spec_exits_2_with_one_sentence(tmp_path: Path) -> None:
    spec = tmp_path / "incident.yaml"
    spec.write_bytes(bytes(range(256)) * 4)
    outcome = runner.invoke(app, ["draft", str(spec)])
    assert outcome.exit_code == 2
    assert "not a text file in UTF-8" in outcome.stderr
    assert "Traceback" not in outcome.stderr
