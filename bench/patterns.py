"""Pattern-mining benchmark: our miner against drain3 0.9.11 on the same lines, in one run.

    python bench/patterns.py [--lines 1000000] [--drain3-lines 100000] [--repeats 3] [--seed 0]

The lines are the 9 Loghub-2k systems in tests/data/loghub-2k, repeated until --lines, with
their variables varied: every parameter of the ground-truth template (the `<*>` slots of
EventTemplate) gets its digits, and the hex letters of hex-like values, re-drawn on every copy,
so that IPs, ports, block ids, UUIDs and durations differ from line to line as in a real log and
deduplication is not trivially perfect. Constant words and non-numeric values (user names) stay.

drain3 runs with its default TemplateMinerConfig plus the masking instructions of its example
drain3.ini (IDs, IPs, hex sequences, hex, numbers, commands). It manages 30k-50k lines/s here, so
it runs on the first --drain3-lines lines only (the same lines, the same mix of systems) and its
figure is a per-line rate. Both figures are wall time in this process, input in memory as a list
of str, output the pattern of every line; each engine runs --repeats times after a one-line
warm-up (lazy imports), the two interleaved, and the best run counts. Our first run is printed
as well: it pays for touching fresh memory pages, which costs about 2.4 ms per MB in this VM.

It also prints the Grouping Accuracy (GA) of both, for context: on the generated lines (the
true event of each is its source line's), and per system on the original Loghub-2k lines.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tasks.baseline.patterns import grouping_accuracy, mine_patterns  # noqa: E402

LOGHUB = ROOT / "tests" / "data" / "loghub-2k"
SYSTEMS = tuple(sorted(p.name for p in LOGHUB.iterdir() if p.is_dir()))

# drain3's examples/drain3.ini, [MASKING] section (0.9.11).
DRAIN3_MASKS = (
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
)


def load_system(system: str) -> tuple[list[str], list[str], list[str]]:
    """Content, EventId and EventTemplate of each line of one Loghub-2k system."""
    path = LOGHUB / system / f"{system}_2k.log_structured_corrected.csv"
    if not path.exists():  # Android, Windows: only the original annotations exist
        path = path.with_name(f"{system}_2k.log_structured.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return (
        [r["Content"] for r in rows],
        [r["EventId"] for r in rows],
        [r["EventTemplate"] for r in rows],
    )


def split_line(content: str, template: str) -> list[str]:
    """[literal, param, literal, param, ..., literal] by aligning content with its template.

    A line the template does not match is returned whole, as one literal (kept as is).
    """
    parts = [re.escape(p) for p in template.split("<*>")]
    pattern = "(.*?)".join(re.sub(r"(\\ )+", r"\\s+", p) for p in parts)
    m = re.fullmatch(pattern, content, re.DOTALL)
    if m is None:
        return [content]
    pieces, pos = [], 0
    for i in range(1, (m.lastindex or 0) + 1):
        start, end = m.span(i)
        pieces += [content[pos:start], content[start:end]]
        pos = end
    pieces.append(content[pos:])
    return pieces


def make_lines(n: int, seed: int) -> tuple[list[str], list[str]]:
    """n lines, and the true event of each (`System:EventId`), cycling through the systems."""
    rng = np.random.default_rng(seed)
    sources, events = [], []
    for system in SYSTEMS:
        contents, event_ids, templates = load_system(system)
        sources += [split_line(c, t) for c, t in zip(contents, templates, strict=True)]
        events += [f"{system}:{e}" for e in event_ids]
    digit_tables = [
        str.maketrans("0123456789", "".join(map(str, rng.permutation(10)))) for _ in range(256)
    ]
    hex_tables = [
        str.maketrans("0123456789abcdef", "".join("0123456789abcdef"[i] for i in perm))
        for perm in (
            np.concatenate([rng.permutation(10), 10 + rng.permutation(6)]) for _ in range(256)
        )
    ]
    hexlike = re.compile(r"[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*|[0-9a-f]*[a-f][0-9a-f]*[0-9]")
    choice = rng.integers(0, 256, size=n)
    lines = []
    for i in range(n):
        pieces = sources[i % len(sources)]
        if len(pieces) == 1:
            lines.append(pieces[0])
            continue
        k = choice[i]
        out = list(pieces)
        for j in range(1, len(out), 2):
            value = out[j]
            prefix = "0x" if value.startswith("0x") else ""  # keep hex literals hex
            body = value[len(prefix) :]
            table = hex_tables[k] if hexlike.search(body) else digit_tables[k]
            out[j] = prefix + body.translate(table)
        lines.append("".join(out))
    return lines, [events[i % len(events)] for i in range(n)]


def drain3_miner():
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.masking_instructions = [MaskingInstruction(p, name) for p, name in DRAIN3_MASKS]
    return TemplateMiner(config=config)


def time_ours(lines: list[str]) -> tuple[float, np.ndarray, int]:
    started = time.perf_counter()
    result = mine_patterns(lines)
    elapsed = time.perf_counter() - started
    assert len(result.ids) == len(lines)
    return elapsed, result.ids, len(result.templates)


def time_drain3(lines: list[str]) -> tuple[float, list[int], int]:
    miner = drain3_miner()
    started = time.perf_counter()
    ids = [miner.add_log_message(line)["cluster_id"] for line in lines]
    return time.perf_counter() - started, ids, len(miner.drain.clusters)


def accuracy_table() -> None:
    print(
        f"\nGrouping Accuracy on Loghub-2k (original lines):\n{'system':<10} {'ours':>6} {'drain3':>7}"
    )
    ours_all, drain_all = [], []
    for system in SYSTEMS:
        contents, truth, _ = load_system(system)
        ours = grouping_accuracy(mine_patterns(contents).ids, truth)
        miner = drain3_miner()
        theirs = grouping_accuracy(
            [miner.add_log_message(c)["cluster_id"] for c in contents], truth
        )
        ours_all.append(ours)
        drain_all.append(theirs)
        print(f"{system:<10} {ours:>6.3f} {theirs:>7.3f}")
    print(f"{'mean':<10} {np.mean(ours_all):>6.3f} {np.mean(drain_all):>7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines for our miner")
    parser.add_argument(
        "--drain3-lines", type=int, default=100_000, help="lines for drain3 (a prefix of ours)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; best is kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    lines, events = make_lines(args.lines, args.seed)
    n_drain = min(args.drain3_lines, len(lines))
    mb = sum(len(s) for s in lines) / 1e6
    print(
        f"{len(lines):,} lines ({mb:.0f} MB of text, {len(set(lines)):,} distinct) generated in "
        f"{time.perf_counter() - started:.1f} s from the {len(SYSTEMS)} Loghub-2k systems, variables varied"
    )

    # Warm-up: lazy imports (pyarrow imports pandas on first use) are not mining.
    mine_patterns(["warm-up 1"])
    drain3_miner().add_log_message("warm-up 1")
    # Interleaved, so that a neighbour's load on a shared machine hits both alike.
    ours_times, drain_times = [], []
    for _ in range(args.repeats):
        elapsed, ours_ids, ours_patterns = time_ours(lines)
        ours_times.append(elapsed)
        elapsed, drain_ids, drain_clusters = time_drain3(lines[:n_drain])
        drain_times.append(elapsed)

    ours_rate = len(lines) / min(ours_times)
    print(
        f"ours:   {len(lines):>9,} lines in {min(ours_times):6.2f} s = {ours_rate:>9,.0f} lines/s "
        f"({ours_patterns} patterns; best of {args.repeats}, first run {ours_times[0]:.2f} s)"
    )
    drain_rate = n_drain / min(drain_times)
    print(
        f"drain3: {n_drain:>9,} lines in {min(drain_times):6.2f} s = {drain_rate:>9,.0f} lines/s "
        f"({drain_clusters} clusters; best of {args.repeats}; run on the first {n_drain:,} "
        "lines only, so this is a per-line rate)"
    )
    print(f"ratio:  ours is {ours_rate / drain_rate:.1f}x drain3")
    print(
        "Grouping Accuracy on these generated lines, all systems in one batch: "
        f"ours {grouping_accuracy(ours_ids, events):.3f} ({len(lines):,} lines), "
        f"drain3 {grouping_accuracy(drain_ids, events[:n_drain]):.3f} ({n_drain:,} lines)"
    )
    accuracy_table()


if __name__ == "__main__":
    main()
