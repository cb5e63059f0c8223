"""The pydantic models passed between stages, in one place.

Data flows one way: IncidentSpec -> gather (GatherResult + the canonical frame in Parquet)
-> baseline (Findings) -> evidence pack (EvidencePack) -> analysis (Analysis) -> verification
(Verification) -> render -> review (ReviewRecord) -> publish (Publication). Everything here is
JSON-serialisable so that Prefect can persist it and a reviewer can read it.
"""

from tasks.contracts.analysis import *  # noqa: F403
from tasks.contracts.evidence import *  # noqa: F403
from tasks.contracts.findings import *  # noqa: F403
from tasks.contracts.pack import *  # noqa: F403
from tasks.contracts.results import *  # noqa: F403
from tasks.contracts.review import *  # noqa: F403
from tasks.contracts.spec import *  # noqa: F403
from tasks.contracts.verification import *  # noqa: F403
