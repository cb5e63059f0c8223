"""The gather stage: list, fetch, decompress and parse an incident's logs into the canonical frame."""

from tasks.gather._stage import MANIFEST_NAME, PARQUET_NAME, gather_logs
from tasks.gather.progress import NoProgress, ProgressReporter

__all__ = ["MANIFEST_NAME", "PARQUET_NAME", "NoProgress", "ProgressReporter", "gather_logs"]
