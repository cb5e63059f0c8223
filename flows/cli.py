"""`postmortem`: the command line. Progress and messages go to stderr; `--json` owns stdout."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from tasks.contracts import DraftResult, IncidentSpec, LogFormat
from tasks.contracts.spec import describe_validation_error
from tasks.errors import PostmortemError, SpecError
from tasks.settings import Settings, load_settings

app = typer.Typer(
    name="postmortem",
    help="Turn an incident's logs in S3 into a reviewed postmortem draft.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Output root (default: settings.out_dir).")
]

EXIT_BAD_INPUT = 2
EXIT_NO_DATA_READ = 3


def show_progress(as_json: bool) -> bool:
    """Progress bars only for a person at a terminal: never under --json or in CI."""
    return not as_json and sys.stderr.isatty() and not os.environ.get("CI")


def quiet_prefect(as_json: bool) -> None:
    # Prefect's run logs are for the UI; on a terminal they bury the one line the user wants.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING" if not as_json else "ERROR")


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def resolve_settings(**overrides: Any) -> Settings:
    """The run's settings, read once here at the edge; a bad value is the user's to fix (exit 2)."""
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        fail(f"settings: {describe_validation_error(exc)}")


def report_draft(result: DraftResult, as_json: bool) -> None:
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        s = result.stats
        err.print(
            f"Read {s.read} of {s.listed} objects ({s.skipped} skipped, {s.failed} failed"
            f"{f', {s.partial} partly read' if s.partial else ''}); "
            f"{s.lines_parsed:,} lines parsed, {s.lines_rejected:,} rejected, {s.rows_kept:,} in the windows."
        )
        for error in result.errors:
            err.print(f"[bold red]error:[/] {error}")
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}")
        if result.top_suspect:
            err.print(f"Top suspect: [bold]{result.top_suspect}[/]")
        err.print(f"Draft (not reviewed): [bold]{result.draft_path}[/]")
    if result.errors and result.stats.read == 0:
        # The draft exists and says why, but a run that read nothing must not look green.
        raise typer.Exit(EXIT_NO_DATA_READ)


@app.command()
def draft(
    incident: Annotated[Path, typer.Argument(help="Incident spec, YAML or JSON.")],
    out: OutOption = None,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="S3 endpoint (MinIO, moto).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Gather, compare with the baseline and render a draft. Nothing is reviewed or published."""
    try:
        spec = IncidentSpec.from_file(incident)
    except SpecError as exc:
        fail(str(exc))
    settings = resolve_settings(s3_endpoint_url=endpoint_url, out_dir=out)
    quiet_prefect(as_json)
    from flows.postmortem import incident_postmortem

    try:
        result = incident_postmortem(spec, settings=settings, progress=show_progress(as_json))
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    report_draft(result, as_json)


@app.command()
def demo(
    scenario: Annotated[str, typer.Option(help="Which incident to simulate.")] = "bad-deploy",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same logs.")] = 7,
    scale: Annotated[float, typer.Option(help="Log volume; 1.0 is about 200k lines.")] = 1.0,
    out: Annotated[Path, typer.Option("--out", help="Output root.")] = Path("demo-output"),
    as_json: JsonOption = False,
) -> None:
    """Seed an embedded S3 with a realistic incident, then run the flow end to end."""
    from tasks.synthetic.generator import SCENARIOS

    if scenario not in SCENARIOS:
        fail(
            f"--scenario: unknown scenario {scenario!r}; choose one of {', '.join(sorted(SCENARIOS))}."
        )
    quiet_prefect(as_json)  # before Prefect is imported: it reads its settings once
    from flows.demo import run_demo

    outcome = run_demo(
        scenario,
        seed,
        out,
        scale=scale,
        progress=show_progress(as_json),
        log=err.print,
        settings=resolve_settings(),
    )
    if as_json:
        typer.echo(outcome.model_dump_json())
        return
    s = outcome.draft.stats
    err.print(
        f"Read {s.read} of {s.listed} objects; {s.lines_parsed:,} lines parsed, "
        f"{s.lines_rejected:,} rejected."
    )
    verdict = "[green]matches[/]" if outcome.top_suspect_correct else "[red]does not match[/]"
    err.print(
        f"Top suspect: [bold]{outcome.draft.top_suspect}[/] ({verdict} the injected root cause, "
        f"{outcome.truth.root_cause_service})."
    )
    typer.echo(f"Draft: {outcome.draft.draft_path}")


@app.command()
def patterns(
    file: Annotated[Path, typer.Argument(help="A log file (plain, gzip or zstd).")],
    fmt: Annotated[LogFormat, typer.Option("--format", help="Log format.")] = LogFormat.AUTO,
) -> None:
    """Print the log pattern of every line as JSON: {"line", "pattern_id", "pattern"}."""
    from tasks.baseline.pattern_file import file_pattern_records

    try:
        records = list(
            file_pattern_records(file, fmt, max_line_bytes=resolve_settings().max_line_bytes)
        )
    except (OSError, ValueError) as exc:
        fail(f"{file}: {exc}")
    out = sys.stdout
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
