"""The generator is pinned to its bytes: the same seed must give the same objects, spec and truth.

The digests in generator_digests.json were recorded from the generator as it was before it was
split into modules (the recorder and its canonical forms: /work/digests/record.py). A change
that moves one random draw changes every byte after it, so these tests fail on any reordering,
even one that leaves the output looking just as realistic. Re-record only on purpose.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tasks.synthetic.generator import SCENARIOS, generate_incident
from tests.incidents import draft_generated

GOLDEN = json.loads(Path(__file__).with_name("generator_digests.json").read_text("utf-8"))
SCALE = 0.05
SOURCE_ROOT = "/synthetic-root"  # never touched: the hashing sink writes nothing
GENERATION = GOLDEN["generation"][repr(SCALE)]
FINDINGS = GOLDEN["findings"][repr(SCALE)]
# The settings record changes with every new setting; it says how, not what, was found.
UNPINNED_KEYS = ("settings",)


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


class _HashingSink:
    """Keeps only the digest of every object put, and the keys put twice."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.overwrites: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        if key in self.objects:
            self.overwrites.append(key)
        self.objects[key] = _sha256(data)


def _combined(objects: dict[str, str]) -> str:
    return _sha256("".join(f"{key} {sha}\n" for key, sha in sorted(objects.items())))


# Spec fields added after the digests were recorded; the generator leaves them at their defaults.
_NEWER_SOURCE_FIELDS = {"service_pattern"}
_NEWER_SPEC_FIELDS = {"detected_at", "resolved_at"}


def _canonical_spec(spec, source_root: str) -> str:
    for source in spec.sources:
        for name in _NEWER_SOURCE_FIELDS:
            assert getattr(source, name) == type(source).model_fields[name].default
    for name in _NEWER_SPEC_FIELDS:
        assert getattr(spec, name) == type(spec).model_fields[name].default
    exclude = {
        "sources": {"__all__": _NEWER_SOURCE_FIELDS},
        **dict.fromkeys(_NEWER_SPEC_FIELDS, True),
    }
    text = spec.model_dump_json(exclude=exclude)
    assert text.count(source_root) == len(spec.sources)
    return text.replace(source_root, "<root>")


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in UNPINNED_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def test_every_scenario_and_seed_is_pinned() -> None:
    assert sorted(GENERATION) == sorted(f"{s}/{seed}" for s in SCENARIOS for seed in (1, 2))


@pytest.mark.parametrize("case", sorted(GENERATION))
def test_same_seed_same_objects_spec_and_truth(case: str) -> None:
    scenario, seed = case.rsplit("/", 1)
    sink = _HashingSink()
    spec, truth = generate_incident(scenario, int(seed), sink, source_root=SOURCE_ROOT, scale=SCALE)
    want = GENERATION[case]
    assert not sink.overwrites, f"keys put twice: {sink.overwrites[:3]}"
    assert len(sink.objects) == want["objects_count"]
    assert _combined(sink.objects) == want["objects_combined"], "objects differ"
    assert _sha256(_canonical_spec(spec, SOURCE_ROOT)) == want["spec"], "spec differs"
    assert _sha256(truth.model_dump_json()) == want["truth"], "ground truth differs"


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(FINDINGS))
def test_same_seed_same_findings(tmp_path: Path, case: str) -> None:
    scenario, seed = case.rsplit("/", 1)
    findings = draft_generated(tmp_path, scenario, int(seed), scale=SCALE).findings
    canonical = json.dumps(
        _strip(json.loads(findings.model_dump_json())), separators=(",", ":"), ensure_ascii=False
    )
    assert _sha256(canonical) == FINDINGS[case]
