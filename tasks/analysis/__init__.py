"""The analysis stage: Claude (first-party, gateway or Bedrock) or the offline analyst, behind one
interface, with the analyst's own health recorded as part of the result."""

from tasks.analysis._base import Analyst, AnalystFailed
from tasks.analysis._claude import ClaudeAnalyst
from tasks.analysis._offline import OfflineAnalyst
from tasks.analysis._stage import (
    analyze,
    api_token_counter,
    choose_analyst,
    self_analysis_services,
)

__all__ = [
    "Analyst",
    "AnalystFailed",
    "ClaudeAnalyst",
    "OfflineAnalyst",
    "analyze",
    "api_token_counter",
    "choose_analyst",
    "self_analysis_services",
]
