"""The pydantic models passed between stages, in one place.

Data flows one way: IncidentSpec -> gather (GatherResult + the canonical frame in Parquet)
-> baseline (Findings) -> render. Everything here is JSON-serialisable so that Prefect can
persist it and a reviewer can read it.
"""

from tasks.contracts.evidence import *  # noqa: F403
from tasks.contracts.findings import *  # noqa: F403
from tasks.contracts.results import *  # noqa: F403
from tasks.contracts.spec import *  # noqa: F403
