"""How the gather stage reports progress: a small protocol, so the display belongs to the caller."""

from __future__ import annotations

from typing import Protocol


class ProgressReporter(Protocol):
    """Named counters: listing (objects), downloading (bytes), parsing (objects)."""

    def add(self, name: str, total: float | None, in_bytes: bool = False) -> None: ...

    def advance(self, name: str, amount: float = 1) -> None: ...

    def finish(self, name: str) -> None: ...


class NoProgress:
    """The default: report nothing."""

    def add(self, name: str, total: float | None, in_bytes: bool = False) -> None:
        pass

    def advance(self, name: str, amount: float = 1) -> None:
        pass

    def finish(self, name: str) -> None:
        pass
