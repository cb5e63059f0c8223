"""The baseline stage: the incident window against normal windows, with statistics only."""

from tasks.baseline._stage import build_findings, findings_from_parquet
from tasks.baseline.comparison import compare_windows

__all__ = ["build_findings", "compare_windows", "findings_from_parquet"]
