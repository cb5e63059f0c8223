"""Log patterns: messages -> templates with variables masked, with IDs stable across windows.

How
---
1. Mask, per message, with vectorised regexes (Arrow's RE2, `replace_substring_regex`, in
   threads: its kernels release the GIL): dates (numeric, and written with weekday and month
   names), URLs, absolute, relative and Windows paths, IPv4/IPv6/MAC, UUIDs and hex ids,
   numbers with their units, identifiers in which a number stands alone (blk_-42, node-7),
   key=value values (empty, quoted and braced ones too); then adjacent variables collapse into
   one (lists, "9.2 KB", "1234 bytes (1.2 KB)", "1.2.3.4 (host.example.org)"). Messages are
   first cut to MAX_MESSAGE_CHARS, and deduplicated before and after masking, so the regexes
   run once per distinct line of a chunk and mining sees each masked form once.
2. Mine the distinct masked messages by slot generalisation (`_mine_same_length`): among
   messages with the same number of tokens, two that differ in exactly one slot merge when
   that slot takes MIN_VARIABLE_VALUES (5) or more distinct words (not in the first slot), or
   when the differing words are values already: masked, or known values of a variable
   (`_Evidence`). A word becomes a known value by filling a generalised slot elsewhere, or by
   alternating with another word at one slot in ALTERNATION_CONTEXTS (3) different events:
   that is how user names and the hosts of a small fleet, too few per event to pass the first
   test, still become variables, while an enumeration (GET/POST, VM Paused/Resumed), which
   alternates within its one event, stays apart. Repeat until nothing merges and nothing new
   is learned.
3. ID = blake2b of the template: deterministic across runs and machines, independent of line
   order and of PYTHONHASHSEED (tested).

Why not drain3 (or drain3-improved, the same Drain algorithm)
-------------------------------------------------------------
bench/patterns.py measures both on the same lines (figures in docs/patterns.md).
- Accuracy. drain3's limit is its similarity threshold, which merges events that differ in a
  word or two (`"GET ..."`/`"POST ..."`, VM Paused/Resumed, "Failed none/password for invalid
  user") and splits one event whose variables it did not mask.
- Speed. drain3 masks and walks its tree line by line in Python; here the regexes run in
  Arrow over distinct lines and mining sees each masked form once.
- Stability. drain3's templates drift as lines arrive and its IDs are arrival counters, so
  the same lines in another order can get other templates and IDs; ours cannot.

The thresholds, honestly: MIN_VARIABLE_VALUES and ALTERNATION_CONTEXTS are global settings,
nothing is tuned per system, and no regex names a system. At MIN_VARIABLE_VALUES 4 the four VM
lifecycle events of OpenStack merge; at 7 or more, more user names stay apart until learned
elsewhere. At ALTERNATION_CONTEXTS 2, lifecycle words (begin/end, initialization/finalization)
alternating in two events are taken for values; the first slot is stricter still (see
`_Evidence`), because it usually names the event ("tickTime set to 5").

Batch independence: the tradeoff
--------------------------------
Masking depends on the message alone, so a message whose variables the masks catch (numbers,
IPs, ids, paths) has the same template, and ID, whatever else is in the batch. Words the masks
cannot tell from constants (user names, host names) need evidence from other lines: "Invalid
user bob from <*>" mined alone stays as it is, and becomes "Invalid user <*> from <*>" in a
batch that also holds alice, carol, dave and erin. That is unavoidable for any miner that
learns variables from data. A template can change only if the batch holds messages with the
same token count that differ from it in one slot, or teaches that its words are values. So the
baseline stage mines all windows in one call, which makes baseline and incident share IDs by
construction, and cross-run stability holds wherever the masks decide.

Limits: quoted strings are masked only as key=value values (Spark's 'sparkExecutorActorSystem'
and OpenStack's "GET ..." are constants in the ground truth); messages that differ in two slots
at once with no single-slot bridge stay apart (Hadoop's "Registering class X for class Y", 9
lines); a variable whose value has spaces changes the token count (Android's "Surface(name=a -
b)"); booleans in key=value are values (Android's annotations keep `force=true` and
`force=false` apart); constants with a stand-alone number (utf-8, x86_64, TLSv1.2) are masked:
still one pattern each time, only less readable.

Truncation: messages are cut to 4,096 characters before Arrow copies them. A 1 MB line is a
payload (a JSON body, a heap dump, a stack trace); its event is named in its opening, and the
variables of the rest would only make every such line a pattern of its own. The cut bounds
regex time, tokens per message and memory (65,536 lines of 1 MB would be 64 GB in a chunk).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.workers import BoundedExecutor, worker_count

#: Messages are cut to this many characters before masking and mining.
MAX_MESSAGE_CHARS = 4096

#: A slot (one token position, the rest of the message identical) that takes at least this many
#: distinct words is a variable. Fewer are kept apart as an enumeration: GET/POST/DELETE, or
#: VM Paused/Resumed/Started/Stopped, are different events, not one event with a parameter.
MIN_VARIABLE_VALUES = 5

#: Two words that alternate at one slot in this many different messages are values of a
#: variable wherever they meet (see `_Evidence`).
ALTERNATION_CONTEXTS = 3

WILDCARD = "<*>"

_CHUNK_LINES = 65_536

# Learning passes end when nothing new is learned, which takes two or three on real logs; the
# cap only bounds input built so that every pass teaches one word more.
_MAX_PASSES = 8

# RE2 (Arrow's regex engine) has no look-around, so token boundaries are `\b`/`\B`: a number
# glued to letters (ssh2, jk2_init, log4j, Slf4jLogger) is part of a word and stays, while an
# identifier in which a number stands alone between separators (blk_-4543, attempt_14_0020_m_3,
# node-7, rdd_2_2, jetty-6.1.26) is masked whole. Masking the whole identifier, not just its
# digits, is what lets blk_1 and broadcast_4_piece0 land in one slot. The cost: constants with
# a stand-alone number (utf-8, x86_64) become <*> too, still one pattern, less readable.
_RUN = r"[A-Za-z0-9_.-]"
# Shorter hex ids (Java's identity hash, 9f4ef63): six or more lowercase hex characters with a
# digit next to a letter somewhere, so that words (facade, decade) stay. RE2 cannot count and
# look around at once, so the length is spelled out by where that digit-letter pair sits.
_HEX_PAIR = r"(?:[0-9][a-f]|[a-f][0-9])"
_SHORT_HEX = "|".join(
    f"[0-9a-f]{{{before}}}{_HEX_PAIR}[0-9a-f]{{{after}}}"
    for before, after in (("4,", "0,"), ("0,", "4,"), ("1,3", "3"), ("3", "1,3"), ("2,3", "2,3"))
)
_NUMBER = (
    # 12, -3.5, 20ms, 64MB, 41C, 2.4GHz, 100Mbps; not 2nd or 5th, which are words
    r"(?:[-+]?[0-9]+(?:\.[0-9]+)?"
    r"(?:ms|us|ns|s|sec|min|m|h|d|[kKMGT]?i?B|[kKMG]?bps|[kKMG]?Hz|%|C|F|V|mV|W|A|mA|px|x)?"
    r"|0[xX][0-9a-fA-F]+"  # 0x1f
    r"|[0-9a-fA-F]{8,}"  # hashes, hex ids, UUID parts
    r"|" + _SHORT_HEX + r")"
)
# Dates written with names: the weekday and month are part of the value, or one event splits
# by day ("at Fri Jun 17 07:07:00 2005", "17/Jun/2005:07:07:00 +0200", "Jun 17, 2005 7:07 AM").
# Full names are spelled out, not `Jan[a-z]*`, so that words such as "Decimal 5" stay.
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_WEEKDAY = (
    r"(?:Mon(?:day)?|Tue(?:s(?:day)?)?|Wed(?:nesday)?|Thu(?:r(?:s(?:day)?)?)?|Fri(?:day)?"
    r"|Sat(?:urday)?|Sun(?:day)?)"
)
_CLOCK = r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?:[.,][0-9]+)?(?:\s?[AaPp][Mm]\b)?"
_ZONE = r"(?:\s?(?:[+-][0-9]{2}:?[0-9]{2}|UTC|GMT|Z|[ECMP][SD]T|CES?T)\b)?"
_DATE = (
    r"\b(?:"
    + _WEEKDAY
    + r",?\s+)?(?:"
    # Jun 17 [2005] [07:07:00] [2005] [+0200]
    + _MONTH
    + r"\.?\s+[0-9]{1,2}(?:st|nd|rd|th)?\b(?:,?\s+[0-9]{4}\b)?(?:,?\s+"
    + _CLOCK
    + _ZONE
    + r")?(?:\s+[0-9]{4}\b)?"
    # 17 Jun 2005, 17/Jun/2005:07:07:00, 17-Jun-05
    + r"|[0-9]{1,2}[ /-]"
    + _MONTH
    + r"[ /-][0-9]{2,4}\b(?:[: ]"
    + _CLOCK
    + _ZONE
    + r")?"
    + r")"
)
_UNIT = r"(?:[kKMGT]i?B|B|bytes|ms|us|ns|s|sec|secs|seconds)\b"
# What a value's parenthesised restatement looks like: another value (with its unit), a
# dotted name (the host of an address), or nothing at all. A plain word stays: `3 (LOOKING)`.
_RESTATED = r"(?:<\*>(?: " + _UNIT + r")?|[^\s()]*[.:<][^\s()]*|)"
_MASKS: tuple[tuple[str, str], ...] = (
    (
        "|".join(
            (
                _DATE,
                r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+",  # URLs
                r"\B/[^\s\"'<>,\])]+",  # absolute paths, /ip:port (not HTTP/1.1: \B)
                # relative paths of three parts or more (a/b/c; HTTP/1.1 has two)
                r"\b[A-Za-z0-9_.$~-]+(?:/[A-Za-z0-9_.$~-]+){2,}/?",
                # Windows paths: C:\..., \\?\..., \\server\share, or three parts a\b\c
                r"(?:\b[A-Za-z]:|\\\\[?.]?)\\?[^\s\"'<>]*",
                r"\b[A-Za-z0-9_.$~-]+(?:\\[A-Za-z0-9_.$~-]+){2,}\\?",
                r"\b[0-9a-fA-F]{1,4}(?:::?[0-9a-fA-F]{1,4}){3,7}\b",  # IPv6, MAC
                # \B[-+]: a sign counts only where no word precedes it (`to -1`, not `x-1`)
                r"(?:\B[-+]|\b)(?:" + _RUN + r"*[_.-])?" + _NUMBER + r"(?:[_.-]" + _RUN + r"*)?\b",
            )
        ),
        WILDCARD,
    ),
    # key=value: the value is the variable, the key is the message's structure. After the
    # pass above, so that a URL's query string stays inside the URL. A quoted value is one
    # value, spaces and all; so is a braced one (ws=WorkSource{1013}). An empty value is a
    # value too: `ruser= rhost=x` and `ruser=bob rhost=x` are one event.
    (
        r"\b=(?:\"[^\"]*\"|'[^']*'|(?:[^\s,;(){}\[\]\"'&<>]|\{[^\s{}]*\}|\([^\s()]*\)|<\*>)*)",
        "=" + WILDCARD,
    ),
    # A list of variables is one variable (HDFS "delete blk_1 blk_2 ..." and "ip1,ip2"), and a
    # size or duration is one variable with its unit ("9.2 KB" and "95 B" are the same slot),
    # with or without a parenthesised restatement ("1234 bytes (1.2 KB)" and "95 bytes"); so is
    # an address with or without its resolved name ("1.2.3.4 (host-1.example.org)", "1.2.3.4 ()").
    (r"<\*>(?:[\s,]+<\*>|\s*\(" + _RESTATED + r"\)| " + _UNIT + r")+", WILDCARD),
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
    return arrays


def _bounded(arr: pa.Array) -> Iterator[pa.Array]:
    """large_string slices of at most _CHUNK_LINES messages."""
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
        # despite its name, Arrow's utf8_slice_codeunits counts code points (tested)
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
    if all(_is_variable_shaped(v) for v in values):  # `<<*>` must not pass for `<*>:<*>`
        return WILDCARD
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


def _mine_same_length(members: list[tuple[str, ...]], evidence: _Evidence) -> list[tuple[str, ...]]:
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
                unions.extend(_slot_unions(sorted(roots), templates, evidence))
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


class _Evidence:
    """Words known to be values of a variable, and what a mining pass learned about more of them.

    A word becomes a known value when it fills a slot (not the first) that generalises: one of
    MIN_VARIABLE_VALUES or more words, or a word beside a masked value. Two words that alternate
    at one slot (not the first) in ALTERNATION_CONTEXTS or more different events are values
    too: user names and the hosts of a small fleet recur across many events, while an
    enumeration (VM Paused/Resumed, GET/POST) names its event and alternates in that one only.
    The first slot usually names the event ("tickTime set to 5", "Starting TrustedInstaller
    ..."), so a word there is learned only when it is one of MIN_VARIABLE_VALUES or more in
    at least two different events (program names leading every line of a proxy's log).
    """

    def __init__(self, known: frozenset[str]) -> None:
        self.known = known
        self.learned: set[str] = set()
        self.pair_events: dict[tuple[str, str], set[tuple[int, str]]] = defaultdict(set)
        self.first_events: dict[str, set[tuple[int, str]]] = defaultdict(set)

    def is_value(self, token: str) -> bool:
        return _word(token) in self.known or _is_variable_shaped(token)

    def new_words(self) -> set[str]:
        words = set(self.learned)
        for pair, events in self.pair_events.items():
            if len(events) >= ALTERNATION_CONTEXTS:
                words.update(pair)
        words.update(w for w, events in self.first_events.items() if len(events) >= 2)
        return {_word(w) for w in words} - self.known - {""}


def _word(token: str) -> str:
    """A token without the punctuation around it: `root,` in a list is the user `root`."""
    return token.strip(",.;:!?()[]{}\"'")


def _event_of(template: tuple[str, ...], j: int) -> tuple[int, str]:
    """What tells one event from another around slot j: the length and the first word.

    Coarser than the slot key on purpose: the same event with other values elsewhere (a second
    state field, another service's name) is still one event, not more evidence.
    """
    words = (t for i, t in enumerate(template) if i != j and not _is_variable_shaped(t))
    return len(template), next(words, "")


def _is_variable_shaped(token: str) -> bool:
    """Masked values joined by punctuation only (`<*>`, `<*>:<*>`, `<<*>`): a value, not a word."""
    return WILDCARD in token and not any(c.isalnum() for c in token.replace(WILDCARD, ""))


def _slot_unions(
    roots: list[int], templates: dict[int, tuple[str, ...]], evidence: _Evidence
) -> list[tuple[int, int]]:
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
    literals = sorted(v for v in by_value if WILDCARD not in v)
    many = len(by_value) >= MIN_VARIABLE_VALUES
    if j and many:
        evidence.learned.update(literals)
        return [(roots[0], r) for r in roots[1:]]
    # Known values (and masked ones) at this slot are one variable, even in the first slot.
    values = [v for v in by_value if evidence.is_value(v)]
    unions = [(by_value[values[0]][0], by_value[v][0]) for v in values[1:]]
    if j == 0:
        if many:
            event = _event_of(first, j)
            for v in literals:
                evidence.first_events[v].add(event)
        return unions
    for general, holders in by_value.items():
        if WILDCARD in general:
            covered = [v for v in by_value if v != general and _covers(general, v)]
            unions.extend((holders[0], by_value[v][0]) for v in covered)
            if general == WILDCARD:
                evidence.learned.update(v for v in covered if WILDCARD not in v)
    event = _event_of(first, j)
    for pair in itertools.combinations(literals, 2):
        evidence.pair_events[pair].add(event)
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
    """Template for each distinct masked message.

    Mined again while a pass learns new known values (see `_Evidence`): a word learned from
    one event can generalise a slot of another, in a message of any length. Each pass starts
    from the templates of the one before (merges only ever coarsen), and words are only ever
    added, so this ends (see _MAX_PASSES), usually after two passes, the second over far
    fewer templates.
    """
    by_length: dict[int, list[int]] = defaultdict(list)
    token_lists = [tuple(m.split()) for m in distinct]
    for i, tokens in enumerate(token_lists):
        by_length[len(tokens)].append(i)
    known: frozenset[str] = frozenset()
    for _ in range(_MAX_PASSES):
        evidence = _Evidence(known)
        for indices in by_length.values():
            current = sorted({token_lists[i] for i in indices})
            mined = dict(zip(current, _mine_same_length(current, evidence), strict=True))
            for i in indices:
                token_lists[i] = mined[token_lists[i]]
        learned = evidence.new_words()
        if not learned:
            break
        known = known | learned
    return [" ".join(tokens) for tokens in token_lists]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def mine_patterns(messages: Sequence[str]) -> PatternResult:
    """One pattern ID per message, in order, and the template of each ID.

    Accepts any sequence of str (None, bytes and NaN are tolerated), or a pyarrow string
    array. Mine every window of an analysis in one call: IDs are a hash of the template, so
    they are deterministic, but which words become variables depends on the batch.
    """
    codes, ids, templates = mine_pattern_codes(_arrow_chunks(messages))
    if not ids:
        return PatternResult(ids=np.empty(0, dtype=object), templates={})
    return PatternResult(ids=np.asarray(ids, dtype=object)[codes], templates=templates)


def mine_pattern_codes(
    chunks: Iterable[pa.Array], pool: BoundedExecutor | None = None
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """`mine_patterns` over string arrays read a chunk at a time: per message a code into the
    pattern IDs, the IDs, and the template of each ID (see `mine_distinct`)."""
    parts: list[np.ndarray] = []
    pattern_of, ids, templates = mine_distinct(chunks, parts.append, pool)
    # Filled part by part, each part let go once copied: the codes never exist twice.
    codes = np.empty(sum(len(part) for part in parts), dtype=np.int32)
    at = 0
    parts.reverse()
    while parts:
        part = parts.pop()
        codes[at : at + len(part)] = pattern_of[part]
        at += len(part)
    return codes, ids, templates


def mine_distinct(
    chunks: Iterable[pa.Array],
    sink: Callable[[np.ndarray], None],
    pool: BoundedExecutor | None = None,
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Mine string arrays read a chunk at a time, keeping only their distinct masked messages.

    Each message gets the index of its distinct masked message, handed to `sink` (int32, in
    input order, a piece of a chunk at a time) as soon as it is known; the result maps each
    index to its pattern code, with the pattern IDs and the template of each ID. The result
    depends on which masked messages occur, not on how often or in what order. `pool` (a Dask
    cluster, see tasks/baseline/_dask.py) masks the chunks instead of this process's threads;
    chunks are merged here in input order either way, so the codes do not depend on where
    they ran.
    """
    index: dict[str, int] = {}  # distinct masked message -> its index

    def collect(encoded: tuple[list[str], np.ndarray]) -> None:
        values, local = encoded
        to_global = np.fromiter(
            (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
        )
        sink(to_global[local].astype(np.int32))

    chunks = (piece for arr in chunks for piece in _bounded(arr))
    if pool is not None:
        for encoded in pool.map_in_order(_encode_chunk, chunks):
            collect(encoded)
    elif (workers := worker_count(cap=8)) == 1:
        for chunk in chunks:
            collect(_encode_chunk(chunk))
    else:
        # Arrow's kernels release the GIL: workers mask while this thread converts the next
        # chunk from Python objects. The window bounds memory; order is kept by the queue.
        with ThreadPoolExecutor(max_workers=workers) as threads:
            for encoded in BoundedExecutor(threads, workers).map_in_order(_encode_chunk, chunks):
                collect(encoded)
    if not index:
        return np.zeros(0, dtype=np.int32), [], {}

    distinct = sorted(index)  # sorted: the mining result must not depend on line order
    mined = _mine(distinct)
    ids: dict[str, int] = {}
    pattern_of = np.empty(len(index), dtype=np.int32)
    templates: dict[str, str] = {}
    for masked, template in zip(distinct, mined, strict=True):
        pid = pattern_id(template)
        templates[pid] = template
        pattern_of[index[masked]] = ids.setdefault(pid, len(ids))
    return pattern_of, list(ids), templates


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
