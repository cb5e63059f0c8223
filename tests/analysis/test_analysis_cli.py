"""`postmortem draft --analyst`: a settings override, refused when it names no analyst."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app, resolve_settings


def test_unknown_analyst_is_refused_before_anything_runs(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(app, ["draft", str(tmp_path / "x.yaml"), "--analyst", "gpt"])
    assert outcome.exit_code == 2
    assert "--analyst" in outcome.stderr
    assert "offline" in outcome.stderr


def test_analyst_option_overrides_the_settings(monkeypatch) -> None:
    monkeypatch.setenv("POSTMORTEM_ANALYST", "claude")
    assert resolve_settings(analyst=None).analyst == "claude"
    assert resolve_settings(analyst="offline").analyst == "offline"
