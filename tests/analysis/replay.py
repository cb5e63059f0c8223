"""Replays recorded API responses to the real anthropic SDK through `httpx2.MockTransport`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2

RECORDINGS = Path(__file__).parent / "recordings"


class Replay:
    """Serves a case's responses in order and keeps every request the SDK sent.

    A request beyond the recording gets a 599 and is counted, so a test asserting the number of
    requests catches an unexpected retry instead of having it hidden by the fallback.
    """

    def __init__(self, case: str, root: Path = RECORDINGS) -> None:
        folder = root / case
        self.responses = [json.loads(p.read_text()) for p in sorted(folder.glob("[0-9][0-9].json"))]
        assert self.responses, f"no recordings in {folder}"
        self.requests: list[httpx2.Request] = []
        self.client = httpx2.Client(transport=httpx2.MockTransport(self._handle))

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        index = len(self.requests) - 1
        if index >= len(self.responses):
            return httpx2.Response(599, json={"type": "error", "error": {"type": "unexpected"}})
        recorded = self.responses[index]
        if "raise" in recorded:
            raise getattr(httpx2, recorded["raise"])("recorded timeout", request=request)
        # "text": a body that is not one JSON document (the Batches API's JSONL results).
        content = recorded["text"] if "text" in recorded else json.dumps(recorded["body"])
        return httpx2.Response(recorded["status"], headers=recorded["headers"], content=content)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]
