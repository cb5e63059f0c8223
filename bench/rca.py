"""Root-cause ranking benchmark: the baseline stage's suspects against the truth, by fault class.

    python bench/rca.py FOLDER [--truth FOLDER/truth.json] [--out DIR] [--only ID,ID] [-v]

FOLDER holds incident specs (`*.yaml`) and a `truth.json` mapping each incident ID to at least
`process` (the faulty service, or null when only its subsystem is known), and optionally
`subsystem` and `fault_class`; /work/shared/data/openstack-faults/incidents is such a folder.
Each incident runs through the draft's own plain functions (gather_logs, then
findings_from_parquet, no Prefect), and the ranking is the order of `findings.suspects`.

AS@k is the share of incidents whose faulty service is among the first k suspects (process
level), or whose subsystem is among the first k subsystems, each subsystem ranked by its best
service (subsystem level). Side by side, two naive baselines over the same gathered rows, as
the data set's README defines them: (a) a service's ERROR/CRITICAL lines in the incident
window; (b) those whose crude template (uuids, hex and digits masked) never occurs in the
service's baseline windows. A service with no such line is not ranked, and ties count as the
expected hit under a random tie-break, as the README's scorer does.

A service's subsystem is the first folder of its objects' keys (`nova/nova-compute.log.gz`
belongs to nova); the service itself is whatever gather made of the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.baseline import findings_from_parquet  # noqa: E402
from tasks.baseline.frame import candidate_windows  # noqa: E402
from tasks.contracts import IncidentSpec  # noqa: E402
from tasks.gather import gather_logs  # noqa: E402
from tasks.settings import Settings  # noqa: E402

KS = (1, 3, 5)
_MASKS = (
    (r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", "<U>"),
    (r"\b[0-9a-fA-F]{16,}\b|\b0x[0-9a-fA-F]+\b", "<H>"),
    (r"\d+", "<N>"),
)


@dataclass
class Result:
    incident: str
    group: str
    subsystem: str | None
    process: str | None
    ranking: list[str]
    subsystem_of: dict[str, str]
    naive: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> service -> score
    seconds: float = 0.0
    top: list[str] = field(default_factory=list)


def subsystems(parquet: Path) -> dict[str, str]:
    """Each service's subsystem: the first folder of its first object key, else itself."""
    table = pq.read_table(parquet, columns=["service", "object_key"])
    pairs = table.group_by(["service", "object_key"]).aggregate([])
    subsystem_of: dict[str, str] = {}
    for svc, key in zip(pairs["service"].to_pylist(), pairs["object_key"].to_pylist(), strict=True):
        if svc is not None:
            key = key or ""
            subsystem_of.setdefault(svc, key.split("/", 1)[0] if "/" in key else svc)
    return subsystem_of


def naive_scores(parquet: Path, spec: IncidentSpec) -> dict[str, dict[str, float]]:
    """The README's two naive rankings, computed on the gathered rows."""
    table = pq.read_table(parquet, columns=["ts", "service", "level", "message"])
    ts = table["ts"]
    inside = pc.and_(
        pc.greater_equal(ts, spec.window.start), pc.less(ts, spec.window.end)
    ).to_numpy(zero_copy_only=False)
    in_base = np.zeros(len(inside), dtype=bool)
    for w in spec.baseline:
        in_base |= pc.and_(pc.greater_equal(ts, w.start), pc.less(ts, w.end)).to_numpy(
            zero_copy_only=False
        )
    level = pc.fill_null(table["level"], "").to_numpy(zero_copy_only=False)
    error = np.isin(level, ["error", "fatal"])
    template = pc.fill_null(table["message"], "")
    for pattern, repl in _MASKS:
        template = pc.replace_substring_regex(template, pattern, repl)
    template = pc.utf8_slice_codeunits(template, 0, 200)
    service = pc.fill_null(table["service"], "").to_numpy(zero_copy_only=False)
    key = np.char.add(np.char.add(service.astype(str), "\x00"), level.astype(str))
    key = np.char.add(np.char.add(key, "\x00"), template.to_numpy(zero_copy_only=False).astype(str))
    seen = set(key[in_base].tolist())
    errors: dict[str, float] = defaultdict(float)
    novel: dict[str, float] = defaultdict(float)
    for s, k in zip(service[inside & error].tolist(), key[inside & error].tolist(), strict=True):
        errors[s] += 1
        if k not in seen:
            novel[s] += 1
    return {"errors": dict(errors), "new errors": dict(novel)}


def hit_prob(scores: dict[str, float], truth: str, k: int) -> float:
    """P(truth in the top k) with ties broken at random; a zero score ranks nowhere."""
    s = scores.get(truth, 0)
    if s <= 0:
        return 0.0
    above = sum(1 for v in scores.values() if v > s)
    tied = sum(1 for v in scores.values() if v == s)
    return min(1.0, max(k - above, 0) / tied)


def by_subsystem(scores: dict[str, float], subsystem_of: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for svc, v in scores.items():
        sub = subsystem_of.get(svc, svc)
        out[sub] = max(out.get(sub, 0), v)
    return out


def ranked_subsystems(ranking: list[str], subsystem_of: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(subsystem_of.get(s, s) for s in ranking))


def run_incident(spec_path: Path, truth: dict, out: Path, settings: Settings) -> Result:
    spec = IncidentSpec.from_file(spec_path)
    windows = candidate_windows(spec)
    started = time.monotonic()
    gathered = gather_logs(
        spec.sources, [windows.incident, *windows.baselines], out / spec.id, spec.id, settings
    )
    findings = findings_from_parquet(gathered.parquet_path, windows, spec.id, settings)
    seconds = time.monotonic() - started
    return Result(
        incident=spec.id,
        group=truth.get("fault_class") or "all",
        subsystem=truth.get("subsystem"),
        process=truth.get("process"),
        ranking=[s.service for s in findings.suspects],
        subsystem_of=subsystems(gathered.parquet_path),
        naive=naive_scores(gathered.parquet_path, spec),
        seconds=seconds,
        top=[f"{s.service} {s.score:.2f}" for s in findings.suspects[:3]],
    )


def scores_of(r: Result) -> dict[str, dict[str, list[float]]]:
    """Per method, the process and subsystem hits at each k (None where not scored)."""
    out: dict[str, dict[str, list[float]]] = {}
    ours_proc = [float(r.process in r.ranking[:k]) for k in KS] if r.process else []
    subs = ranked_subsystems(r.ranking, r.subsystem_of)
    ours_sub = [float(r.subsystem in subs[:k]) for k in KS] if r.subsystem else []
    out["draft"] = {"proc": ours_proc, "sub": ours_sub}
    for name, sc in r.naive.items():
        out[name] = {
            "proc": [hit_prob(sc, r.process, k) for k in KS] if r.process else [],
            "sub": (
                [hit_prob(by_subsystem(sc, r.subsystem_of), r.subsystem, k) for k in KS]
                if r.subsystem
                else []
            ),
        }
    return out


def table(results: list[Result]) -> str:
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups["ALL"].append(r)
        groups[r.group].append(r)
        if r.subsystem:
            groups[f"subsystem={r.subsystem}"].append(r)
    order = ["ALL", *sorted(g for g in groups if g != "ALL" and "=" not in g)]
    order += sorted(g for g in groups if "=" in g)
    methods = ["draft", "errors", "new errors"]
    lines = []
    for level, title in (("proc", "process"), ("sub", "subsystem")):
        head = f"| {title} level | n |" + "".join(f" {m} AS@{k} |" for m in methods for k in KS)
        lines += [head, "|---|---|" + "---|" * (len(methods) * len(KS))]
        for g in order:
            rows = [scores_of(r) for r in groups[g]]
            rows = [s for s in rows if s["draft"][level]]
            if not rows:
                continue
            cells = []
            for m in methods:
                for i in range(len(KS)):
                    cells.append(f"{np.mean([s[m][level][i] for s in rows]):.2f}")
            lines.append(f"| {g} | {len(rows)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--truth", type=Path, help="default: FOLDER/truth.json")
    ap.add_argument("--out", type=Path, default=Path("/tmp/rca-bench"))
    ap.add_argument("--only", help="comma-separated incident IDs")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per incident")
    ap.add_argument("--json", type=Path, help="also write per-incident results here")
    args = ap.parse_args(argv)
    truth = json.loads((args.truth or args.folder / "truth.json").read_text(encoding="utf-8"))
    wanted = set(args.only.split(",")) if args.only else None
    settings = Settings()
    results = []
    for spec_path in sorted(args.folder.glob("*.yaml")):
        inc = spec_path.stem
        if inc not in truth or (wanted and inc not in wanted):
            continue
        r = run_incident(spec_path, truth[inc], args.out, settings)
        results.append(r)
        if args.verbose:
            rank = r.ranking.index(r.process) + 1 if r.process in r.ranking else "-"
            print(
                f"{r.incident} {r.group:22} truth={r.process or r.subsystem} rank={rank} "
                f"top={r.top} ({r.seconds:.1f}s)",
                file=sys.stderr,
            )
    print(table(results))
    print(f"{len(results)} incidents, {sum(r.seconds for r in results):.0f} s in gather + baseline")
    if args.json:
        args.json.write_text(
            json.dumps([r.__dict__ for r in results], indent=1, default=str), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
