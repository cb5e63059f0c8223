"""`postmortem`: the command line. Progress and messages go to stderr; `--json` owns stdout."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from tasks.contracts import DraftResult, IncidentSpec, LogFormat
from tasks.contracts.spec import describe_validation_error
from tasks.errors import PostmortemError, SpecError, StageError
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


class AnalystChoice(StrEnum):
    AUTO = "auto"
    CLAUDE = "claude"
    BEDROCK = "bedrock"
    OFFLINE = "offline"


EXIT_BAD_INPUT = 2
EXIT_NO_DATA_READ = 3


def show_progress(as_json: bool) -> bool:
    """Progress bars only for a person at a terminal: never under --json or in CI."""
    return not as_json and sys.stderr.isatty() and not os.environ.get("CI")


def configure_prefect(as_json: bool) -> None:
    """Prefect reads these once, at import: set them before the flow module is imported."""
    # Prefect's run logs are for the UI; on a terminal they bury the one line the user wants.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING" if not as_json else "ERROR")
    # The ephemeral API's 20 s start-up limit fails on a busy 2-core machine; waiting is better.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def hint_if_ephemeral_prefect(as_json: bool) -> None:
    """Without a running server every command starts Prefect's ephemeral API, which costs
    seconds per run; say once how to avoid that."""
    from prefect.settings import get_current_settings

    if get_current_settings().api.url is None and not as_json:
        err.print(
            "[dim]hint: no Prefect server configured, so Prefect starts a temporary one for "
            "this run. For repeated drafts, run `prefect server start` once and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api.[/]"
        )


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
        if result.analyst:
            grounded = (
                f"; {result.grounding_rate:.0%} of its statements verified"
                if result.grounding_rate is not None
                else ""
            )
            err.print(f"Analyst: {result.analyst}{grounded}")
        err.print(f"Draft (not reviewed): [bold]{result.draft_path}[/]")
    if result.stage_failures:
        for failure in result.stage_failures:
            err.print(f"[bold red]error:[/] the {failure.stage} stage failed: {failure.cause}")
        raise typer.Exit(StageError.exit_code)
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
    analyst: Annotated[
        AnalystChoice | None,
        typer.Option(
            "--analyst",
            help="auto: Claude with ANTHROPIC_API_KEY, Bedrock with a region, else offline.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Gather, compare with the baseline and render a draft. Nothing is reviewed or published."""
    try:
        spec = IncidentSpec.from_file(incident)
    except SpecError as exc:
        fail(str(exc))
    settings = resolve_settings(
        s3_endpoint_url=endpoint_url, out_dir=out, analyst=analyst and analyst.value
    )
    configure_prefect(as_json)
    hint_if_ephemeral_prefect(as_json)
    from flows.postmortem import incident_postmortem

    try:
        result = incident_postmortem(spec, settings=settings, progress=show_progress(as_json))
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    except Exception as exc:  # a bug, but still one sentence; the traceback is in Prefect's log
        fail(f"{spec.id}: the run stopped on an unexpected {type(exc).__name__}: {exc}", 1)
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
    configure_prefect(as_json)  # before Prefect is imported: it reads its settings once
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


@app.command("eval")
def eval_(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="Labelled incidents: one folder per case (incident.yaml + truth.json), or "
            "specs with one truth.json beside them. Default: the generator's scenarios."
        ),
    ] = None,
    analyst: Annotated[
        list[str] | None,
        typer.Option("--analyst", help="offline, claude, bedrock or auto; repeat to compare."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Model for claude/bedrock; repeat to compare models."),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Tag for these rows, e.g. the prompt variant under test.")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", help="Generator scenario; repeatable.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated scenarios.")] = 1,
    scale: Annotated[float, typer.Option(help="Log volume of generated scenarios.")] = 0.1,
    limit: Annotated[int | None, typer.Option(help="Score only the first N cases.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Where drafts and cases go.")] = Path(
        "eval-output"
    ),
    as_json: JsonOption = False,
) -> None:
    """Run labelled incidents through the draft and score each analyst."""
    from tasks.evaluation import (
        TABLE_HEADER,
        evaluate,
        generator_cases,
        load_cases,
        summarise,
        table_rows,
    )
    from tasks.synthetic.generator import SCENARIOS

    analysts = analyst or ["offline"]
    for name in analysts:
        if name not in ("auto", "claude", "bedrock", "offline"):
            fail(f"--analyst: unknown analyst {name!r}; choose auto, claude, bedrock or offline.")
    settings = resolve_settings()
    configure_prefect(as_json)
    try:
        if folder is None:
            unknown = sorted(set(scenario or []) - set(SCENARIOS))
            if unknown:
                fail(
                    f"--scenario: unknown {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}."
                )
            err.print(
                f"Generating {len(scenario or SCENARIOS)} scenarios (seed {seed}, scale {scale})…"
            )
            cases = generator_cases(out / "cases", scenario or list(SCENARIOS), seed, scale)
        else:
            cases = load_cases(folder)
        cases = cases[:limit] if limit else cases
        scores = evaluate(
            cases, settings, out / "runs", analysts, model, label=label, log=err.print
        )
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    summaries = summarise(scores)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "summaries": [s.model_dump(mode="json") for s in summaries],
                    "cases": [s.model_dump(mode="json") for s in scores],
                }
            )
        )
        return
    from rich.table import Table

    for row in scores:
        if row.error:
            err.print(f"[bold red]error:[/] {row.case} ({row.analyst}): {row.error}")
    table = Table(title=f"postmortem eval: {len(cases)} cases")
    for i, column in enumerate(TABLE_HEADER):
        table.add_column(column, justify="left" if i == 0 else "right")
    for cells in table_rows(summaries):
        table.add_row(*cells)
    # Piped into a file or CI log, rich would squeeze the table into 80 columns.
    Console(highlight=False, width=None if sys.stdout.isatty() else 160).print(table)


@app.command()
def weekly(
    week: Annotated[
        str | None, typer.Option("--week", help="ISO week, e.g. 2026-W47 (default: last week).")
    ] = None,
    out: OutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the weekly reliability review of the postmortems under the output root."""
    from tasks.weekly import week_bounds

    settings = resolve_settings()
    try:
        week = week_bounds(week).week if week else None
    except PostmortemError as exc:
        fail(f"--week: {exc}")
    configure_prefect(as_json)
    from flows.weekly_review import weekly_review

    try:
        path = weekly_review(week, settings, out)
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    if as_json:
        typer.echo(json.dumps({"weekly_review": str(path), "html": str(path.with_suffix(".html"))}))
        return
    err.print(f"Weekly review (not reviewed): [bold]{path}[/]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
