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
