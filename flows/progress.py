"""Rich progress bars on stderr for a person at a terminal; the gather stage only reports counts."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


class _Amount(ProgressColumn):
    """Bytes for the download bar, counts for the others."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes, self._count = DownloadColumn(), MofNCompleteColumn()

    def render(self, task: Any) -> Any:
        column = self._bytes if task.fields.get("in_bytes") else self._count
        return column.render(task)


class RichProgress:
    """A `ProgressReporter` drawing one bar per counter (listing, downloading, parsing)."""

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            _Amount(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._tasks: dict[str, Any] = {}

    def add(self, name: str, total: float | None, in_bytes: bool = False) -> None:
        self._tasks[name] = self._bar.add_task(name, total=total, in_bytes=in_bytes)

    def advance(self, name: str, amount: float = 1) -> None:
        if name in self._tasks:
            self._bar.advance(self._tasks[name], amount)

    def finish(self, name: str) -> None:
        if name in self._tasks:
            task = self._tasks[name]
            done = self._bar.tasks[task].completed
            self._bar.update(task, total=done, completed=done)

    @contextmanager
    def shown(self):  # type: ignore[no-untyped-def]
        with self._bar:
            yield self
