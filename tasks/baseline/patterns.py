"""Log patterns: messages -> templates with variables masked, with IDs stable across windows.

How
---
1. Mask, per message, with vectorised regexes (Arrow's RE2, `replace_substring_regex`, in
   threads: its kernels release the GIL): URLs, paths, IPv4/IPv6/MAC, UUIDs and hex ids,
   numbers with their units, identifiers in which a number stands alone (blk_-42, node-7),
   key=value values; then adjacent variables collapse into one (lists, "9.2 KB"). Messages
   are first cut to MAX_MESSAGE_CHARS, and deduplicated before and after masking, so the
   regexes run once per distinct line of a chunk and mining sees each masked form once.
2. Mine the distinct masked messages by slot generalisation (`_mine_same_length`): among
   messages with the same number of tokens, two that differ in exactly one slot merge when
   that slot is already a variable in one of them, or when it takes MIN_VARIABLE_VALUES (5)
   or more distinct words; never in the first slot. Repeat until nothing merges.
3. ID = blake2b of the template: deterministic across runs and machines, independent of line
   order and of PYTHONHASHSEED (tested).

Why not drain3 (or drain3-improved, the same Drain algorithm; not measured)
-------------------------------------------------------------------------
Measured on the 7 Loghub-2k systems (bench/patterns.py; this machine, 2 cores):
- Accuracy. drain3 0.9.11 with its example masks: mean Grouping Accuracy 0.840 (OpenStack
  0.309, OpenSSH 0.720). Fed our masked, deduplicated messages instead: still 0.840. The limit
  is Drain's similarity threshold, which merges events that differ in a word or two:
  `"GET ..."`/`"POST ..."`, VM Paused/Resumed (one token in seven), "Failed none/password for
  invalid user". Slot generalisation: 0.997.
- Speed. drain3 masks and walks its tree line by line in Python: 52k lines/s with its masks.
  Ours, on 1M lines with varied variables: 2.1M lines/s (best of 3; 1.3M on the first run,
  which pays for fresh memory pages), so 41x (25x cold). This machine is shared: with other
  processes busy the ratio has ranged from 14x to 43x between runs.
- Stability. drain3's templates drift as lines arrive and its IDs are arrival counters, so
  the same lines in another order can get other templates and IDs; ours cannot.
The miner is small (one pass of hashing per distinct message and round), so owning it costs
less than adapting drain3's online model to a batch one.

The threshold, honestly: MIN_VARIABLE_VALUES is one global setting, chosen on this benchmark
where mean GA plateaus at 0.997 for 5 and 6. At 4, the four VM lifecycle events of OpenStack
merge (OpenStack 0.946, mean 0.990); at 7 or more, the six user names of OpenSSH's "Failed
password for <user>" stay apart (OpenSSH 0.807, mean 0.970); at 3, mean 0.916. So the 0.90
target does not hang on it. Nothing is tuned per system, and no regex names a system.

Batch independence: the tradeoff
--------------------------------
Masking depends on the message alone, so a message whose variables the masks catch (numbers,
IPs, ids, paths) has the same template, and ID, whatever else is in the batch. Words the masks
cannot tell from constants (user names, host names) need evidence from other lines: "Invalid
user bob from <*>" mined alone stays as it is, and becomes "Invalid user <*> from <*>" in a
batch that also holds alice, carol, dave and erin. That is unavoidable for any miner that
learns variables from data; this one keeps it local: a template can change only if the batch
holds messages with the same token count that differ from it in exactly one slot (directly or
through a chain of such merges); unrelated messages never interfere. So the baseline stage
mines all windows in one call, which makes baseline and incident share IDs by construction,
and cross-run stability holds wherever the masks decide.

Limits: quoted strings are not masked (Spark's 'sparkExecutorActorSystem' and OpenStack's
"GET ..." are constants in the ground truth); messages that differ in two slots at once with
no single-slot bridge stay apart (Hadoop's "Registering class X for class Y", 9 lines);
constants with a stand-alone number (utf-8, x86_64, TLSv1.2) are masked: still one pattern
each time, only less readable.

Truncation: messages are cut to 4,096 characters before Arrow copies them. A 1 MB line is a
payload (a JSON body, a heap dump, a stack trace); its event is named in its opening, and the
variables of the rest would only make every such line a pattern of its own. The cut bounds
regex time, tokens per message and memory (65,536 lines of 1 MB would be 64 GB in a chunk).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.workers import worker_count

#: Messages are cut to this many characters before masking and mining.
MAX_MESSAGE_CHARS = 4096

#: A slot (one token position, the rest of the message identical) that takes at least this many
#: distinct words is a variable. Fewer are kept apart as an enumeration: GET/POST/DELETE, or
#: VM Paused/Resumed/Started/Stopped, are different events, not one event with a parameter.
MIN_VARIABLE_VALUES = 5

WILDCARD = "<*>"

_CHUNK_LINES = 65_536

# RE2 (Arrow's regex engine) has no look-around, so token boundaries are `\b`/`\B`: a number
# glued to letters (ssh2, jk2_init, log4j, Slf4jLogger) is part of a word and stays, while an
# identifier in which a number stands alone between separators (blk_-4543, attempt_14_0020_m_3,
# node-7, rdd_2_2, jetty-6.1.26) is masked whole. Masking the whole identifier, not just its
# digits, is what lets blk_1 and broadcast_4_piece0 land in one slot. The cost: constants with
# a stand-alone number (utf-8, x86_64) become <*> too, still one pattern, less readable.
_RUN = r"[A-Za-z0-9_.-]"
_NUMBER = (
    r"(?:[-+]?[0-9]+(?:\.[0-9]+)?(?:ms|us|ns|s|m|h|d|[kKMGT]i?B|B|%)?"  # 12, -3.5, 20ms, 64MB
    r"|0[xX][0-9a-fA-F]+"  # 0x1f
    r"|[0-9a-fA-F]{8,})"  # hashes, hex ids, UUID parts
)
_MASKS: tuple[tuple[str, str], ...] = (
    (
        "|".join(
            (
                r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+",  # URLs
                r"\B/[^\s\"'<>,\])]+",  # absolute paths, /ip:port (not HTTP/1.1: \B)
                r"\b[A-Za-z]:\\[^\s\"'<>]+",  # Windows paths
                r"\b[0-9a-fA-F]{1,4}(?:::?[0-9a-fA-F]{1,4}){3,7}\b",  # IPv6, MAC
                # \B[-+]: a sign counts only where no word precedes it (`to -1`, not `x-1`)
                r"(?:\B[-+]|\b)(?:" + _RUN + r"*[_.-])?" + _NUMBER + r"(?:[_.-]" + _RUN + r"*)?\b",
            )
        ),
        WILDCARD,
    ),
    # key=value: the value is the variable, the key is the message's structure. After the
    # pass above, so that a URL's query string stays inside the URL.
    (r"=(?:[^\s,;)\]}\"'&<>]|<\*>)+", "=" + WILDCARD),
    # A list of variables is one variable (HDFS "delete blk_1 blk_2 ..." and "ip1,ip2"), and a
    # size or duration is one variable with its unit ("9.2 KB" and "95 B" are the same slot).
    (
        r"<\*>(?:[\s,]+<\*>| (?:[kKMGT]i?B|B|bytes|ms|us|ns|s|sec|secs|seconds)\b)+",
        WILDCARD,
    ),
)


@dataclass(frozen=True)
class PatternResult:
    ids: np.ndarray  # one pattern ID (str) per input message, same order
    templates: dict[str, str]  # pattern ID -> template, variables shown as <*>


def pattern_id(template: str) -> str:
    return "p" + hashlib.blake2b(template.encode(), digest_size=5).hexdigest()


# --------------------------------------------------------------------------------------------
# Masking: vectorised, per message, independent of the batch
# --------------------------------------------------------------------------------------------


def _coerce(message: Any) -> str | None:
    if message is None or isinstance(message, str):
        if message is not None and not _is_utf8_encodable(message):
            return message.encode("utf-8", "replace").decode("utf-8")
        return message
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message).decode("utf-8", "replace")
    if isinstance(message, float) and message != message:  # NaN from pandas
        return None
    return str(message)


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from surrogateescape decoding
        return False
    return True


def _arrow_chunks(messages: Sequence[str] | pa.Array | pa.ChunkedArray) -> Iterator[pa.Array]:
    """Bounded chunks of large_string, made lazily so that memory is recycled chunk by chunk.

    large_string because 65,536 messages of up to 1 MB would overflow 32-bit string offsets.
    """
    if hasattr(messages, "iloc"):  # pandas: slicing by position, and Arrow-backed str is cheap
        try:
            messages = pa.array(messages, from_pandas=True)
        except (pa.ArrowException, TypeError, UnicodeEncodeError):
            messages = list(messages)
    if isinstance(messages, pa.Array | pa.ChunkedArray):
        arrays: Iterator[pa.Array] = iter(
            messages.chunks if isinstance(messages, pa.ChunkedArray) else [messages]
        )
    else:
        if not isinstance(messages, Sequence) and not hasattr(messages, "__getitem__"):
            messages = list(messages)  # a generator, a set: tolerated, not promised
        arrays = (
            _to_arrow(messages[start : start + _CHUNK_LINES])
            for start in range(0, len(messages), _CHUNK_LINES)
        )
    for arr in arrays:
        if not pa.types.is_large_string(arr.type):
            try:
                arr = arr.cast(pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # binary, not UTF-8
                arr = _to_arrow(arr.to_pylist())
        for start in range(0, len(arr), _CHUNK_LINES):
            yield arr.slice(start, _CHUNK_LINES)


def _to_arrow(part: Sequence[Any]) -> pa.Array:
    # Cut over-long messages before Arrow copies them: 65,536 lines of 1 MB would be 64 GB.
    try:
        longest = max(map(len, filter(None, part)), default=0)
    except TypeError:  # NaN, numbers: not text, coerced below
        longest = MAX_MESSAGE_CHARS + 1
    if longest <= MAX_MESSAGE_CHARS:
        try:
            return pa.array(part, type=pa.large_string())
        except (pa.ArrowException, UnicodeEncodeError, TypeError):
            pass  # invalid UTF-8 bytes, lone surrogates: coerced below
    cut = [_coerce(m) for m in part]
    return pa.array([m[:MAX_MESSAGE_CHARS] if m else m for m in cut], type=pa.large_string())


def _mask_chunk(arr: pa.Array) -> pa.Array:
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    # byte length bounds the character length: only a chunk that may need cutting pays for it
    if len(arr) and pc.max(pc.binary_length(arr)).as_py() > MAX_MESSAGE_CHARS:
        arr = pc.utf8_slice_codeunits(arr, 0, MAX_MESSAGE_CHARS)
    for pattern, replacement in _MASKS:
        arr = pc.replace_substring_regex(arr, pattern, replacement)
    return arr


def mask_message(message: str | None) -> str:
    """The masked form of one message, exactly as `mine_patterns` masks it (for tests, docs)."""
    return _mask_chunk(_to_arrow([message]))[0].as_py()


def _encode_chunk(arr: pa.Array) -> tuple[list[str], np.ndarray]:
    """Distinct masked messages of one chunk, and each line's index into them.

    Exact repeats are common in logs (health checks, messages without variables), so the
    chunk is deduplicated before masking as well as after: regexes run once per distinct line.
    """
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    raw = pc.dictionary_encode(arr)
    masked = pc.dictionary_encode(_mask_chunk(raw.dictionary))
    codes = masked.indices.to_numpy(zero_copy_only=False)[
        raw.indices.to_numpy(zero_copy_only=False)
    ]
    return masked.dictionary.to_pylist(), codes


# --------------------------------------------------------------------------------------------
# Mining: slot generalisation over the distinct masked messages
# --------------------------------------------------------------------------------------------


def _covers(general: str, token: str) -> bool:
    """Whether a token with masked parts (`<*>:<*>`) can stand for another (`host-a:<*>`).

    Greedy left-to-right matching of the literal parts, which is exact for a pattern whose
    only metacharacter is the wildcard, and linear: a regex of `.*`s can backtrack badly.
    """
    if general == token:
        return True
    if WILDCARD not in general:
        return False
    first, *middle, last = general.split(WILDCARD)
    end = len(token) - len(last)
    if end < len(first) or not token.startswith(first) or not token.endswith(last):
        return False
    pos = len(first)
    for part in middle:
        found = token.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


def _merge_slot(values: list[str]) -> str:
    first = values[0]
    if all(v == first for v in values):
        return first
    for v in values:
        if WILDCARD in v and all(_covers(v, w) for w in values):
            return v
    return WILDCARD


def _slot_keys(tokens: tuple[str, ...]) -> list[int]:
    """For each position j, a hash of (j, every other token): equal keys differ only at j."""
    n = len(tokens)
    if n <= 64:  # slicing is C-speed; the rolling form below wins only on long messages
        return [hash((j, tokens[:j], tokens[j + 1 :])) for j in range(n)]
    prefix = [0] * (n + 1)
    for j, tok in enumerate(tokens):
        prefix[j + 1] = hash((prefix[j], tok))
    suffix = [0] * (n + 1)
    for j in range(n - 1, -1, -1):
        suffix[j] = hash((suffix[j + 1], tokens[j]))
    return [hash((j, prefix[j], suffix[j + 1])) for j in range(n)]


def _mine_same_length(members: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Templates for distinct masked messages that all have the same number of tokens.

    Two clusters merge when they differ in exactly one slot (position) and either that slot
    is already a variable in one of them (the other's word is then a value of it: a user
    named `0` was masked, `admin` was not), or the slot takes MIN_VARIABLE_VALUES or more
    distinct words (never the first slot: a message's first word names the event). Merges are
    decided on a snapshot and applied together, until nothing changes, so the outcome depends
    on the set of messages, not on their order.
    """
    parent = list(range(len(members)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    templates: dict[int, tuple[str, ...]] = dict(enumerate(members))
    # Most slot keys belong to one cluster only: those live in `owner` alone, and a set is made
    # only for a key that a second cluster shares. Sets for all keys cost 3x the time.
    owner: dict[int, int] = {}
    shared: dict[int, set[int]] = {}
    keys_of: dict[int, list[int]] = {}

    def index(root: int) -> list[int]:
        keys = keys_of[root] = _slot_keys(templates[root])
        hits = []
        for key in keys:
            first = owner.setdefault(key, root)
            if first != root:
                shared.setdefault(key, {first}).add(root)
                hits.append(key)
        return hits

    def unindex(root: int) -> None:
        for key in keys_of.pop(root):
            group = shared.get(key)
            if group is None:
                del owner[key]
                continue
            group.discard(root)  # `owner` may now name a gone cluster: only its presence counts
            if not group:
                del shared[key], owner[key]

    todo: list[int] = []
    for root in range(len(members)):
        todo.extend(index(root))
    # Only a slot that gained a member can change its verdict, so after the first round
    # only the slots of merged clusters are looked at again.
    while todo:
        unions: list[tuple[int, int]] = []
        for key in set(todo):
            roots = shared.get(key)
            if roots is not None and len(roots) > 1:
                unions.extend(_slot_unions(sorted(roots), templates))
        for a, b in unions:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        merged: dict[int, list[int]] = defaultdict(list)
        for root in sorted({r for pair in unions for r in pair}):
            merged[find(root)].append(root)
        todo = []
        for new_root, old_roots in merged.items():
            if len(old_roots) == 1:
                continue
            for r in old_roots:
                unindex(r)
            group = [templates.pop(r) for r in old_roots]
            templates[new_root] = tuple(_merge_slot(list(col)) for col in zip(*group, strict=True))
            todo.extend(index(new_root))
    return [templates[find(i)] for i in range(len(members))]


def _slot_unions(roots: list[int], templates: dict[int, tuple[str, ...]]) -> list[tuple[int, int]]:
    """Which of these clusters (equal slot keys) to merge; exact check against hash clashes."""
    first = templates[roots[0]]
    j = _differing_slot(first, [templates[r] for r in roots[1:]])
    if j is None:
        return []
    by_value: dict[str, list[int]] = defaultdict(list)
    for r in roots:
        by_value[templates[r][j]].append(r)
    if len(by_value) == 1:
        return [(roots[0], r) for r in roots[1:]]
    if j == 0:
        return []
    if len(by_value) >= MIN_VARIABLE_VALUES:
        return [(roots[0], r) for r in roots[1:]]
    unions = []
    for general, holders in by_value.items():
        if WILDCARD in general:
            unions.extend(
                (holders[0], others[0])
                for value, others in by_value.items()
                if value != general and _covers(general, value)
            )
    return unions


def _differing_slot(first: tuple[str, ...], others: list[tuple[str, ...]]) -> int | None:
    """The one position at which the templates differ, or None if the hash lied."""
    n = len(first)
    slot = None
    for other in others:
        if len(other) != n:
            return None
        diff = [j for j in range(n) if other[j] != first[j]]
        if len(diff) > 1 or (diff and slot is not None and diff[0] != slot):
            return None
        if diff:
            slot = diff[0]
    return slot if slot is not None else 0


def _mine(distinct: list[str]) -> list[str]:
    """Template for each distinct masked message."""
    by_length: dict[int, list[int]] = defaultdict(list)
    token_lists = [tuple(m.split()) for m in distinct]
    for i, tokens in enumerate(token_lists):
        by_length[len(tokens)].append(i)
    out = [""] * len(distinct)
    for indices in by_length.values():
        mined = _mine_same_length([token_lists[i] for i in indices])
        for i, tokens in zip(indices, mined, strict=True):
            out[i] = " ".join(tokens)
    return out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def mine_patterns(messages: Sequence[str]) -> PatternResult:
    """One pattern ID per message, in order, and the template of each ID.

    Accepts any sequence of str (None, bytes and NaN are tolerated), or a pyarrow string
    array. Mine every window of an analysis in one call: IDs are a hash of the template, so
    they are deterministic, but which words become variables depends on the batch.
    """
    index: dict[str, int] = {}  # distinct masked message -> code
    codes_parts: list[np.ndarray] = []

    def collect(encoded: tuple[list[str], np.ndarray]) -> None:
        values, local = encoded
        to_global = np.fromiter(
            (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
        )
        codes_parts.append(to_global[local])

    workers = worker_count(cap=8)
    chunks = _arrow_chunks(messages)
    if workers == 1:
        for chunk in chunks:
            collect(_encode_chunk(chunk))
    else:
        # Arrow's kernels release the GIL: workers mask while this thread converts the next
        # chunk from Python objects. The window bounds memory; order is kept by the queue.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future] = deque()
            for chunk in chunks:
                pending.append(pool.submit(_encode_chunk, chunk))
                if len(pending) > workers:
                    collect(pending.popleft().result())
            while pending:
                collect(pending.popleft().result())
    if not index:
        return PatternResult(ids=np.empty(0, dtype=object), templates={})

    distinct = sorted(index)  # sorted: the mining result must not depend on line order
    mined = _mine(distinct)
    ids_by_code = np.empty(len(index), dtype=object)
    templates: dict[str, str] = {}
    for masked, template in zip(distinct, mined, strict=True):
        pid = pattern_id(template)
        templates[pid] = template
        ids_by_code[index[masked]] = pid
    return PatternResult(ids=ids_by_code[np.concatenate(codes_parts)], templates=templates)


def iter_pattern_records(messages: Sequence[str]) -> Iterator[dict]:
    """`{"line": n, "pattern_id", "pattern"}` per message, n 1-based, in input order.

    The whole input is mined before the first record: a pattern is a property of the batch.
    """
    result = mine_patterns(messages)
    for line, pid in enumerate(result.ids, start=1):
        yield {"line": line, "pattern_id": pid, "pattern": result.templates[pid]}


def grouping_accuracy(pred: Sequence[Any], truth: Sequence[Any]) -> float:
    """Grouping Accuracy: the share of lines whose predicted group is exactly their true group.

    A line counts as correct when the set of lines sharing its predicted pattern equals the
    set of lines sharing its true event (Zhu et al., "Tools and Benchmarks for Automated Log
    Parsing", ICSE-SEIP 2019).
    """
    if len(pred) != len(truth):
        raise ValueError(f"pred has {len(pred)} labels, truth has {len(truth)}")
    if len(pred) == 0:
        return 1.0
    _, p = np.unique(np.asarray(pred, dtype=object).astype(str), return_inverse=True)
    _, t = np.unique(np.asarray(truth, dtype=object).astype(str), return_inverse=True)
    pairs = np.unique(np.stack([p, t]), axis=1)
    truths_per_pred = np.bincount(pairs[0], minlength=p.max() + 1)
    preds_per_truth = np.bincount(pairs[1], minlength=t.max() + 1)
    # a pair (p, t) is a perfect group iff p maps only to t and t only to p
    exact = (truths_per_pred[p] == 1) & (preds_per_truth[t] == 1)
    return float(exact.mean())
