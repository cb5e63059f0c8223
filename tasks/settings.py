"""One settings model for the whole tool, resolved once per run and passed into every stage.

`load_settings()` reads `POSTMORTEM_*` environment variables and an optional `postmortem.toml` in
the working directory (or the file named by `POSTMORTEM_CONFIG`). The result is a plain pydantic
model, so a flow takes it as a parameter (the Prefect UI shows it as a form, and the run records
it) and no stage reads the environment itself. Secrets are deliberately absent: AWS credentials
come from boto3's credential chain and the Anthropic key from `ANTHROPIC_API_KEY`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseModel):
    """Every knob of a run. Unknown keys are refused, so a typo in a form or a file is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Gather
    late_delivery_margin_minutes: float = Field(
        15.0,
        ge=0,
        description=(
            "How far outside the analysis windows key-based pruning still looks. Shippers name "
            "objects by when they were flushed, not by the records inside (Firehose buffers up "
            "to 15 minutes, CloudTrail delivers within about 15), so a tight prune loses data."
        ),
    )
    max_line_bytes: int = Field(1_048_576, ge=1024, description="Longer lines are rejected.")
    download_concurrency: int = Field(8, ge=1, le=64, description="Objects fetched at once.")
    parse_workers: int = Field(
        0,
        ge=0,
        description=(
            "Parallel parsers, 0 meaning one per core: threads for JSON formats (pyarrow "
            "releases the GIL), processes for the text formats, which hold it."
        ),
    )
    s3_max_attempts: int = Field(
        10, ge=1, description="Attempts per S3 request, the first included (adaptive retries)."
    )
    s3_endpoint_url: str | None = Field(
        None, description="Overrides AWS_ENDPOINT_URL_S3 (MinIO, moto's server)."
    )
    s3_unsigned: bool = Field(
        False,
        description=(
            "Send S3 requests unsigned: for public buckets and local test servers (the demo's "
            "moto), so that no credentials are needed or read."
        ),
    )

    # Baseline
    min_baseline_lines: int = Field(
        200, ge=0, description="Fewer baseline lines than this gives a warning in the findings."
    )
    significance_level: float = Field(0.01, gt=0, lt=1, description="False discovery rate.")
    trace_sample_limit: int = Field(
        200_000,
        ge=2,
        description=(
            "Most traces the trace analysis looks at. Above it, a uniform sample of this many "
            "traces (the same on every run) stands for all, and the findings say so; memory "
            "then stops growing with the traces."
        ),
    )

    # Evidence pack and redaction
    evidence_budget_tokens: int = Field(
        20_000, ge=1_000, description="Token budget of the evidence pack sent to the model."
    )
    redact_ips: bool = Field(True, description="Replace IP addresses with stable placeholders.")
    redact_emails: bool = Field(True, description="Replace e-mail addresses likewise.")

    # Analyst
    analyst: Literal["auto", "claude", "bedrock", "offline"] = Field(
        "auto",
        description=(
            "auto: Claude when ANTHROPIC_API_KEY is set, Bedrock when bedrock_region is set, "
            "otherwise the deterministic offline analyst."
        ),
    )
    model: str = Field(
        "claude-sonnet-5-5",
        description=(
            "Model for the first-party API or a gateway. Sonnet 5.5 (late 2026) rejects forced "
            "tool use, so the analyst asks for structured output through output_config instead."
        ),
    )
    bedrock_model: str = Field("anthropic.claude-sonnet-5-5", description="Model ID on Bedrock.")
    bedrock_region: str | None = Field(None, description="AWS region for Bedrock.")
    anthropic_base_url: str | None = Field(None, description="An Anthropic-compatible gateway.")
    max_tokens: int = Field(8_000, ge=256, le=21_000, description="Output token limit per call.")
    model_timeout_seconds: float = Field(120.0, gt=0, description="Per-attempt HTTP timeout.")
    model_max_retries: int = Field(2, ge=0, le=10, description="SDK retries after the first try.")
    price_per_mtok_usd: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "claude-opus-4": (15.0, 75.0),
            "claude-opus-4-5": (5.0, 25.0),
            "claude-opus-4-6": (5.0, 25.0),
            "claude-opus-4-7": (5.0, 25.0),
            "claude-opus-5": (5.0, 25.0),
            "claude-opus-5-5": (4.0, 20.0),
            "claude-sonnet-4": (3.0, 15.0),
            "claude-sonnet-5": (2.0, 10.0),
            "claude-haiku-4": (1.0, 5.0),
        },
        description=(
            "Model-name prefix -> (input, output) USD per million tokens; the longest matching "
            "prefix wins, and Bedrock's 'anthropic.' and region prefixes are ignored. Cache "
            "reads cost 0.1x input and cache writes 1.25x. Used only for the estimate in the draft."
        ),
    )
    degraded_after_retries: int = Field(
        2, ge=0, description="More retries than this flags the analysis as degraded."
    )
    degraded_after_seconds: float = Field(
        90.0, gt=0, description="A call slower than this is flagged as degraded."
    )

    # Review and publishing
    reviewers: list[str] = Field(
        default_factory=list, description="Who may review; empty means anyone may."
    )
    review_timeout_hours: float = Field(72.0, gt=0, description="How long a draft waits.")
    review_poll_seconds: float = Field(
        10.0,
        gt=0,
        description="How often a paused run (outside a deployment) checks for a decision.",
    )
    publish_to: list[str] = Field(
        default_factory=list, description="s3://bucket/prefix or a folder, for approved drafts."
    )
    slack_webhook_block: str | None = Field(
        None, description="Name of a Prefect SlackWebhook block to announce publications."
    )

    # Weekly review and scale-out
    weekly_cron: str = Field("0 9 * * 1", description="When the weekly review runs.")
    weekly_timezone: str = Field("UTC", description="Timezone of weekly_cron.")
    weekly_ai_summary: bool = Field(True, description="Add an AI summary of themes.")
    weekly_review_gate: bool = Field(True, description="The weekly review waits for a reviewer.")
    weekly_summary_poll_seconds: float = Field(
        30.0, gt=0, description="How often the weekly summary's batch is polled until it ends."
    )
    weekly_summary_wait_minutes: float = Field(
        60.0,
        gt=0,
        description="How long the weekly review waits for the summary's batch before it "
        "cancels it and goes on without a summary.",
    )
    dask_address: str | None = Field(
        None, description="A Dask scheduler (tcp://host:8786) for the CPU-heavy work."
    )

    # Output
    out_dir: Path = Field(Path("postmortems"), description="Where drafts are written.")


def _toml_path() -> Path:
    return Path(os.environ.get("POSTMORTEM_CONFIG", "postmortem.toml"))


class _SettingsSources(BaseSettings, Settings):
    """Settings as read from the environment and postmortem.toml; used only by load_settings."""

    # forbid: a typo in postmortem.toml is refused, not silently dropped (unknown POSTMORTEM_*
    # environment variables, such as POSTMORTEM_CONFIG, are never read as fields).
    model_config = SettingsConfigDict(env_prefix="POSTMORTEM_", extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, so one run can be adjusted without editing it.
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_toml_path()),
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and postmortem.toml, with explicit overrides on top.

    Called once, at the edge (the CLI, a deployment's entry point); stages receive the result.
    """
    loaded = _SettingsSources(**overrides)
    return Settings.model_validate(loaded.model_dump())


def settings_record(settings: Settings) -> dict[str, Any]:
    """The settings as recorded beside the findings: JSON values, nothing secret in them."""
    return settings.model_dump(mode="json")
