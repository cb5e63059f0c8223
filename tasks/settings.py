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
from typing import Any

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

    # Output
    out_dir: Path = Field(Path("postmortems"), description="Where drafts are written.")


def _toml_path() -> Path:
    return Path(os.environ.get("POSTMORTEM_CONFIG", "postmortem.toml"))


class _SettingsSources(BaseSettings, Settings):
    """Settings as read from the environment and postmortem.toml; used only by load_settings."""

    model_config = SettingsConfigDict(env_prefix="POSTMORTEM_", extra="ignore")

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
