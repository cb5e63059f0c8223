"""`postmortem`: the command line. Progress and messages go to stderr; `--json` owns stdout."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from flows.run_log import gather_summary
from tasks.contracts import DraftResult, IncidentSpec, LogFormat
from tasks.contracts.spec import describe_validation_error
from tasks.errors import PostmortemError, ReviewError, SpecError, StageError
from tasks.settings import Settings, load_settings

if TYPE_CHECKING:
    from tasks.contracts import GatherStats
    from tasks.evaluation import EvalReport
    from tasks.synthetic.generator import GroundTruth

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
PublishToOption = Annotated[
    list[str] | None,
    typer.Option(
        "--publish-to",
        help="s3://bucket/prefix or a folder, for what is approved (repeatable; default: "
        "settings.publish_to, else <out>/published).",
    ),
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


def load_spec(path: Path) -> IncidentSpec:
    """The incident spec; a bad one is the user's to fix (exit 2)."""
    try:
        return IncidentSpec.from_file(path)
    except SpecError as exc:
        fail(str(exc))


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
        err.print(gather_summary(result.stats), markup=False, highlight=False)
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
    if result.reanalysis_changes is not None and not as_json:
        err.print("Changes against the previous analysis:")
        for change in result.reanalysis_changes or ["none"]:
            err.print(f"  - {change}")
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
    reanalyze: Annotated[
        bool,
        typer.Option(
            "--reanalyze",
            help="Run only the AI stage again, on the stored evidence, and show what changed.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Gather, compare with the baseline and render a draft. Nothing is reviewed or published."""
    spec = load_spec(incident)
    settings = resolve_settings(
        s3_endpoint_url=endpoint_url, out_dir=out, analyst=analyst and analyst.value
    )
    configure_prefect(as_json)
    hint_if_ephemeral_prefect(as_json)
    from flows.postmortem import incident_postmortem, reanalyze_postmortem

    try:
        if reanalyze:
            result = reanalyze_postmortem(spec, settings=settings)
        else:
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
    review: Annotated[
        bool,
        typer.Option(
            "--review/--no-review",
            help="Leave the run waiting for review in a background process (default), or stop "
            "at the draft in this process.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Seed an embedded S3 with a realistic incident, draft it, and leave it waiting for review."""
    from tasks.synthetic.generator import SCENARIOS

    if scenario not in SCENARIOS:
        fail(
            f"--scenario: unknown scenario {scenario!r}; choose one of {', '.join(sorted(SCENARIOS))}."
        )
    configure_prefect(as_json)  # before Prefect is imported: it reads its settings once
    if review:
        from flows.demo import start_demo

        try:
            waiting = start_demo(scenario, seed, out, scale=scale, log=err.print)
        except PostmortemError as exc:
            fail(str(exc), exc.exit_code)
        if as_json:
            typer.echo(waiting.model_dump_json())
            return
        report_demo(waiting.stats, waiting.top_suspect, waiting.top_suspect_correct, waiting.truth)
        err.print(
            f"Draft (waiting for review): [bold]{waiting.draft_path}[/]\n"
            f"The run waits in the background (pid {waiting.host_pid}, log {waiting.host_log}) "
            f"for up to an hour; on approval it publishes to {' and '.join(waiting.publish_to)}.\n"
            "Review it with:"
        )
        typer.echo(waiting.review_command)
        return
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
    report_demo(
        outcome.draft.stats, outcome.draft.top_suspect, outcome.top_suspect_correct, outcome.truth
    )
    typer.echo(f"Draft: {outcome.draft.draft_path}")


def report_demo(
    stats: GatherStats, top_suspect: str | None, correct: bool, truth: GroundTruth
) -> None:
    err.print(gather_summary(stats), markup=False, highlight=False)
    verdict = "[green]matches[/]" if correct else "[red]does not match[/]"
    err.print(
        f"Top suspect: [bold]{top_suspect}[/] ({verdict} the injected root cause, "
        f"{truth.root_cause_service})."
    )


@app.command()
def run(
    incident: Annotated[Path, typer.Argument(help="Incident spec, YAML or JSON.")],
    publish_to: PublishToOption = None,
    out: OutOption = None,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="S3 endpoint (MinIO, moto).")
    ] = None,
    review_only: Annotated[
        bool,
        typer.Option(
            "--review-only",
            help="Do not draft again: wait for a review of the draft already in the output "
            "folder (after a review timed out).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The whole flow: draft, wait for a reviewer's decision, publish on approval."""
    spec = load_spec(incident)
    settings = resolve_settings(s3_endpoint_url=endpoint_url, out_dir=out)
    configure_prefect(as_json)
    from flows.postmortem import postmortem_run

    try:
        result = postmortem_run(
            spec,
            settings=settings,
            publish_to=publish_to or None,
            review_only=review_only,
            progress=show_progress(as_json),
        )
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        if result.draft:
            report_draft(result.draft, as_json=False)
        err.print(result.review.message)
    if result.review.state == "timed_out":
        raise typer.Exit(ReviewError.exit_code)


@app.command()
def review(
    run_id: Annotated[str, typer.Argument(help="The waiting flow run's id.")],
    approve: Annotated[bool, typer.Option("--approve", help="Publish this exact draft.")] = False,
    request_changes: Annotated[
        bool, typer.Option("--request-changes", help="Re-render with the edits, wait again.")
    ] = False,
    reject: Annotated[bool, typer.Option("--reject", help="End the run; publish nothing.")] = False,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who decides.")] = "",
    comment: Annotated[str, typer.Option("--comment", help="Why, or what to change.")] = "",
    edited: Annotated[
        Path | None, typer.Option("--edited", help="A corrected draft.md (with --request-changes).")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the run to act on the decision.")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Send a decision to a run waiting for review (the run itself publishes on approval)."""
    chosen = [
        name
        for name, flag in (
            ("approve", approve),
            ("request_changes", request_changes),
            ("reject", reject),
        )
        if flag
    ]
    if len(chosen) != 1:
        fail("choose exactly one of --approve, --request-changes or --reject.")
    if not reviewer.strip():
        fail("--reviewer: say who decides (a name on the reviewer allowlist, if there is one).")
    if edited is not None and chosen[0] != "request_changes":
        fail("--edited: an edited draft must be reviewed again; use it with --request-changes.")
    try:
        edited_markdown = edited.read_text(encoding="utf-8") if edited else None
    except OSError as exc:
        fail(f"--edited {edited}: {exc.strerror or exc}.")
    settings = resolve_settings()
    if settings.reviewers and reviewer not in settings.reviewers:
        # The run refuses it too; saying so here saves a round trip.
        fail(
            f"--reviewer: {reviewer!r} is not on the reviewer allowlist "
            f"({', '.join(settings.reviewers)}).",
            ReviewError.exit_code,
        )
    configure_prefect(as_json)
    from flows.review import ReviewDecision, await_outcome, draft_of, read_status, submit_review

    decision = ReviewDecision(
        decision=chosen[0],
        reviewer=reviewer,
        comments=comment,
        edited_markdown=edited_markdown,
    )
    info = draft_of(run_id) or {}
    out_dir = Path(info["draft_path"]).parent if info.get("draft_path") else None
    before = read_status(out_dir) if out_dir else None
    try:
        submit_review(run_id, decision)
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    outcome = await_outcome(out_dir, before, wait) if out_dir and before and wait > 0 else None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "flow_run_id": run_id,
                    "decision": decision.decision,
                    "reviewer": reviewer,
                    "status": outcome.model_dump(mode="json") if outcome else None,
                }
            )
        )
        return
    err.print(f"Sent {decision.decision.replace('_', ' ')} by {reviewer} to run {run_id}.")
    if outcome is None:
        err.print(
            "The run has not acted on it yet; `postmortem pending` lists the runs still waiting."
        )
        return
    err.print(outcome.message)
    if outcome.state == "published" and out_dir:
        typer.echo(f"Published: {out_dir / 'published.json'}")


@app.command()
def pending(as_json: JsonOption = False) -> None:
    """The runs waiting for review, with their drafts and UI links."""
    configure_prefect(as_json)
    from flows.review import list_pending

    waiting = list_pending()
    if as_json:
        typer.echo(json.dumps([w.model_dump(mode="json") for w in waiting]))
        return
    if not waiting:
        err.print("No run is waiting for review.")
        return
    for w in waiting:
        since = f"{w.paused_at:%Y-%m-%d %H:%M}Z" if w.paused_at else "?"
        typer.echo(
            f"{w.flow_run_id}  {w.incident_id or w.flow_run_name}  round {w.round or '?'}  "
            f"waiting since {since}"
        )
        typer.echo(f"    draft: {w.draft_path or '?'}")
        if w.html_path:
            typer.echo(f"    html:  {w.html_path}")
        typer.echo(
            f"    ui:    {w.ui_url or '(no UI: set PREFECT_UI_URL, or run a Prefect server)'}"
        )


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
    from tasks.evaluation import run_evaluation

    analysts = analyst or ["offline"]
    for name in analysts:
        if name not in ("auto", "claude", "bedrock", "offline"):
            fail(f"--analyst: unknown analyst {name!r}; choose auto, claude, bedrock or offline.")
    settings = resolve_settings()
    configure_prefect(as_json)
    try:
        report = run_evaluation(
            folder,
            settings,
            out,
            analysts,
            model,
            label=label,
            scenarios=scenario,
            seed=seed,
            scale=scale,
            limit=limit,
            log=err.print,
        )
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    if as_json:
        typer.echo(report.to_json())
    else:
        print_eval_report(report)


def print_eval_report(report: EvalReport) -> None:
    """Failed rows on stderr, then the summary table on stdout."""
    from rich.table import Table

    from tasks.evaluation import TABLE_HEADER, table_rows

    for row in report.scores:
        if row.error:
            err.print(f"[bold red]error:[/] {row.case} ({row.analyst}): {row.error}")
    table = Table(title=f"postmortem eval: {len(report.cases)} cases")
    for i, column in enumerate(TABLE_HEADER):
        table.add_column(column, justify="left" if i == 0 else "right")
    for cells in table_rows(report.summaries):
        table.add_row(*cells)
    # Piped into a file or CI log, rich would squeeze the table into 80 columns.
    Console(highlight=False, width=None if sys.stdout.isatty() else 160).print(table)


@app.command()
def weekly(
    week: Annotated[
        str | None, typer.Option("--week", help="ISO week, e.g. 2026-W47 (default: last week).")
    ] = None,
    out: OutOption = None,
    publish_to: PublishToOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the weekly reliability review of the postmortems under the output root; with the
    review gate on (settings.weekly_review_gate, the default), wait for a reviewer first and
    publish the approved review like a postmortem."""
    from tasks.weekly import week_bounds

    settings = resolve_settings()
    try:
        week = week_bounds(week).week if week else None
    except PostmortemError as exc:
        fail(f"--week: {exc}")
    configure_prefect(as_json)
    from flows.weekly_review import weekly_review

    try:
        path = weekly_review(week, settings, out, publish_to or None)
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)
    if as_json:
        typer.echo(json.dumps({"weekly_review": str(path), "html": str(path.with_suffix(".html"))}))
        return
    # With the review gate on, the flow returns the reviewed copy only when it was approved.
    state = "reviewed" if path.name == "reviewed.md" else "not reviewed"
    err.print(f"Weekly review ({state}): [bold]{path}[/]")


@app.command()
def serve(
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="At most this many runs at once (default: PREFECT_RUNNER_PROCESS_LIMIT, 5).",
        ),
    ] = None,
) -> None:
    """Serve the deployments on a Prefect server: the postmortem (also started by an
    `incident.resolved` event) and the weekly review (on settings.weekly_cron)."""
    settings = resolve_settings()
    # A service's log is its only record of what it started; runs inherit this process's env.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    configure_prefect(as_json=False)
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    if not api_url:
        fail(
            "postmortem serve needs a Prefect server: run `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api, because the temporary API Prefect "
            "starts otherwise runs no scheduler, so the weekly review would never run."
        )
    with get_client(sync_client=True) as client:
        unhealthy = client.api_healthcheck()
    if unhealthy is not None:
        fail(f"PREFECT_API_URL: cannot reach the Prefect server at {api_url} ({unhealthy}).")
    from flows.serve import serve_deployments

    try:
        serve_deployments(settings, limit=limit)
    except PostmortemError as exc:
        fail(str(exc), exc.exit_code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
