"""What a generation run wrote: volumes per source and error lines per service."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SourceStats:
    objects: int = 0
    lines: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0

    def count(self, lines: int, uncompressed: int, compressed: int) -> None:
        """Add one object written."""
        self.objects += 1
        self.lines += lines
        self.bytes_uncompressed += uncompressed
        self.bytes_compressed += compressed


@dataclass
class GenerationStats:
    """Volumes written, and error lines per service, for benchmarks and tests."""

    sources: dict[str, SourceStats] = field(default_factory=dict)
    lines_in_windows: int = 0  # records in the incident window plus the default baseline
    errors_incident: dict[str, int] = field(default_factory=dict)  # app error lines/service
    errors_baseline: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.sources.values())

    @property
    def bytes_uncompressed(self) -> int:
        return sum(s.bytes_uncompressed for s in self.sources.values())

    @property
    def bytes_compressed(self) -> int:
        return sum(s.bytes_compressed for s in self.sources.values())
