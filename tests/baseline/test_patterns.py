"""Log patterns: accuracy on Loghub-2k, masking, ID stability, and awkward input."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tasks.baseline import patterns
from tasks.baseline.pattern_file import file_pattern_records
from tasks.baseline.patterns import (
    MAX_MESSAGE_CHARS,
    WILDCARD,
    grouping_accuracy,
    iter_pattern_records,
    mask_message,
    mine_patterns,
    pattern_id,
)

LOGHUB = Path(__file__).parent.parent / "data" / "loghub-2k"
ROOT = Path(__file__).resolve().parent.parent

# What the miner reaches, rounded down by about 0.01, so that a regression fails. Measured:
# Android 0.967, Apache 1.000, HDFS 1.000, Hadoop 0.989, OpenSSH 1.000, OpenStack 1.000,
# Spark 1.000, Windows 1.000, Zookeeper 0.9945 (mean 0.9945; drain3 0.9.11 with its example
# masks: see docs/patterns.md). Android and Windows carry the original, uncorrected
# Loghub annotations and were added after the miner was built, as logs it was not tuned on.
GA_FLOORS = {
    "Android": 0.95,
    "Apache": 0.99,
    "HDFS": 0.99,
    "Hadoop": 0.97,
    "OpenSSH": 0.99,
    "OpenStack": 0.99,
    "Spark": 0.99,
    "Windows": 0.99,
    "Zookeeper": 0.98,
}


def load_loghub(system: str) -> tuple[list[str], list[str]]:
    path = LOGHUB / system / f"{system}_2k.log_structured_corrected.csv"
    if not path.exists():  # Android, Windows: only the original annotations exist
        path = path.with_name(f"{system}_2k.log_structured.csv")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["Content"] for r in rows], [r["EventId"] for r in rows]


@pytest.fixture(scope="module")
def loghub_accuracy() -> dict[str, float]:
    out = {}
    for system in GA_FLOORS:
        contents, truth = load_loghub(system)
        out[system] = grouping_accuracy(mine_patterns(contents).ids, truth)
    return out


# --------------------------------------------------------------------------------------------
# Accuracy
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("system", sorted(GA_FLOORS))
def test_grouping_accuracy_floor_per_system(system: str, loghub_accuracy: dict[str, float]):
    assert loghub_accuracy[system] >= GA_FLOORS[system]


@pytest.mark.parametrize("system", sorted(GA_FLOORS))
def test_the_patterns_command_reaches_the_floors_from_the_raw_files(system: str):
    # What a user runs: `postmortem patterns FILE` on the raw log, headers and all. The parser
    # must find each line's content as Loghub does: before, Hadoop's threads, Zookeeper's
    # [thread:Class@line], OpenStack's logger names and Android's unknown header stayed in
    # (0.730, 0.926, 0.513 and 0.901).
    _, truth = load_loghub(system)
    records = list(file_pattern_records(LOGHUB / system / f"{system}_2k.log"))
    assert grouping_accuracy([r["pattern_id"] for r in records], truth) >= GA_FLOORS[system]


def test_every_loghub_system_is_tested():
    assert sorted(GA_FLOORS) == sorted(p.name for p in LOGHUB.iterdir() if p.is_dir())


def test_one_configuration_reaches_095_on_average_and_090_everywhere(
    loghub_accuracy: dict[str, float],
):
    assert np.mean(list(loghub_accuracy.values())) >= 0.95
    assert min(loghub_accuracy.values()) >= 0.90


def test_grouping_accuracy_counts_only_exact_groups():
    truth = ["a", "a", "b", "b", "c"]
    assert grouping_accuracy(["x", "x", "y", "y", "z"], truth) == 1.0
    # names do not matter, only the partition
    assert grouping_accuracy([3, 3, 1, 1, 2], truth) == 1.0
    # b split in two: its 2 lines are wrong, the rest right
    assert grouping_accuracy(["x", "x", "y", "w", "z"], truth) == pytest.approx(3 / 5)
    # b and c merged: 3 lines wrong
    assert grouping_accuracy(["x", "x", "y", "y", "y"], truth) == pytest.approx(2 / 5)
    assert grouping_accuracy(["x"] * 5, truth) == 0.0
    assert grouping_accuracy([], []) == 1.0
    with pytest.raises(ValueError):
        grouping_accuracy(["x"], [])


# --------------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        # IPv4, with a port, with a leading slash (Zookeeper, HDFS); IPv6 and MAC
        (
            "Failed password for root from 187.141.143.180 port 34508 ssh2",
            "Failed password for root from <*> port <*> ssh2",
        ),
        ("Received block src: /10.251.42.84:57069", "Received block src: <*>"),
        ("peer 10.0.0.1:8080 closed", "peer <*>:<*> closed"),
        ("link fe80::1ff:fe23:4567:890a up", "link <*> up"),
        ("mac 00:1a:2b:3c:4d:5e seen", "mac <*> seen"),
        # UUIDs, hex ids, hashes
        (
            "[instance: d54b44eb-2d1a-4aa2-ba6b-074d35f8f12c] Claim successful",
            "[instance: <*>] Claim successful",
        ),
        ("session 0x14ed93111f20005 closed", "session <*> closed"),
        ("base a489c868f0c37da93b76227c91bb03908ac0e742 in use", "base <*> in use"),
        # numbers: integers, signed, decimals, durations and sizes with their unit
        ("took 0.2477829 s, status -1, offset +5", "took <*>, status <*>, offset <*>"),
        ("GC pause 12ms then 3.5s", "GC pause <*> then <*>"),
        ("stored 9.2 KB of 64MB", "stored <*> of <*>"),
        ("Temperature (41C) at 2.4GHz on 100Mbps", "Temperature (<*>) at <*> on <*>"),
        # identifiers in which a number stands alone are variables, whole
        (
            "PacketResponder 1 for block blk_-6952295868487656571 terminating",
            "PacketResponder <*> for block <*> terminating",
        ),
        ("attempt_1445144423722_0020_m_000004_0 done on node-7", "<*> done on <*>"),
        ("Block broadcast_4_piece0 stored", "Block <*> stored"),
        # paths and URLs
        ("Deleting /var/lib/nova/instances/x_del now", "Deleting <*> now"),
        ("GET https://api.example.com/v1/users?id=42 failed", "GET <*> failed"),
        (r"open C:\Temp\a.txt failed", "open <*> failed"),
        # key=value: the value goes, the key stays; an empty value is a value too, so
        # that `ruser= rhost=` and `ruser=bob rhost=x` are one event
        (
            "logname= uid=0 tty=ssh ruser= rhost=1.2.3.4 user=root",
            "logname=<*> uid=<*> tty=<*> ruser=<*> rhost=<*> user=<*>",
        ),
        ('acquire tag="View Lock", ws=WorkSource{10113}', "acquire tag=<*>, ws=<*>"),
        ("if (a == b)", "if (a == b)"),  # no key, no value
        # a list of variables is one variable
        (
            "BLOCK* ask 10.0.0.1:50010 to delete blk_1 blk_2 blk_3",
            "BLOCK* ask <*>:<*> to delete <*>",
        ),
        ("10.11.21.123,10.11.10.1 GET", "<*> GET"),
        # timestamps, also with weekday and month names
        ("at 2017-05-16T00:00:00.008Z ok", "at <*>:<*>:<*> ok"),
        ("connection from 1.2.3.4 at Fri Jun 17 07:07:00 2005", "connection from <*> at <*>"),
        ("started Sat Jul  2 23:59:01 CEST 2005 ok", "started <*> ok"),
        ("on Jun 17, 2005 7:07 AM done", "on <*> done"),
        ("[17/Jun/2005:07:07:00 +0200] GET", "[<*>] GET"),
        ("due 17 June 2005", "due <*>"),
        ("next Mon Dec 5", "next <*>"),
        # hex ids of 6 or 7 characters need a digit and a letter
        (
            "AppWindowToken{9f4ef63 token=x} and f39182 tail",
            "AppWindowToken{<*> token=<*>} and <*> tail",
        ),
        # paths without a leading slash: relative with three parts or more, Windows forms
        ("open a/b/c.txt failed", "open <*> failed"),
        (r"from path '\\?\GLOBALROOT\Device\x' done", "from path '<*>' done"),
        (r"copy lib\x86\a.dll", "copy <*>"),
        # a size with a parenthesised restatement is one variable
        ("close, 1190 bytes (1.16 KB) sent, 95 bytes received", "close, <*> sent, <*> received"),
        ("connection from 1.2.3.4 (host-4.example.org) at", "connection from <*> at"),
        ("connection from 1.2.3.4 () at", "connection from <*> at"),
    ],
)
def test_masks_common_variables(message: str, masked: str):
    assert mask_message(message) == masked


@pytest.mark.parametrize(
    "word",
    [
        "ssh2",
        "jk2_init()",
        "log4j",
        "Slf4jLogger",
        "hadoop-metrics2.properties",
        "v2",
        "2nd",
        "5th",
    ],
)
def test_numbers_glued_to_letters_are_part_of_the_word(word: str):
    assert mask_message(f"loaded {word} ok") == f"loaded {word} ok"


@pytest.mark.parametrize(
    "words",
    ["Decimal point", "May I", "on Sunday at noon", "a facade", "ext4 mounted", "TLSv1", "a/b"],
)
def test_words_like_dates_paths_or_hex_stay(words: str):
    assert mask_message(words) == words


def test_http_version_keeps_the_protocol_name():
    assert (
        mask_message('"GET /v2/servers HTTP/1.1" status: 200') == '"GET <*> HTTP/<*>" status: <*>'
    )


def test_masking_keeps_non_ascii_words():
    assert mask_message("naïve café 42 日本語") == "naïve café <*> 日本語"


# --------------------------------------------------------------------------------------------
# Mining: what merges, what does not
# --------------------------------------------------------------------------------------------


def _templates(messages: list[str]) -> list[str]:
    result = mine_patterns(messages)
    return [result.templates[pid] for pid in result.ids]


def test_a_slot_with_many_words_becomes_a_variable():
    users = ["admin", "oracle", "test", "guest", "support", "ubnt"]
    out = _templates([f"Invalid user {u} from 10.0.0.{i}" for i, u in enumerate(users)])
    assert set(out) == {"Invalid user <*> from <*>"}


def test_a_slot_already_variable_absorbs_words():
    # user "0" is masked as a number, so "admin" in the same slot is a user name too
    out = _templates(
        [
            "Failed none for invalid user 0 from 1.2.3.4",
            "Failed none for invalid user admin from 1.2.3.5",
        ]
    )
    assert set(out) == {"Failed none for invalid user <*> from <*>"}


def test_enumerations_stay_apart():
    lines = [
        f'10.0.0.1 "{m} /v2/servers HTTP/1.1" status: 200 len: 1 time: 0.1'
        for m in ("GET", "POST", "DELETE")
    ]
    lines += [
        f"[instance: {i}] VM {s} (Lifecycle Event)"
        for i, s in enumerate(("Paused", "Resumed", "Started", "Stopped"))
    ]
    assert len(set(_templates(lines))) == 7


def test_the_first_word_is_never_generalised():
    lines = [
        f"{key} set to 5"
        for key in (
            "tickTime",
            "maxSessionTimeout",
            "minSessionTimeout",
            "purgeInterval",
            "snapRetainCount",
            "x",
        )
    ]
    lines.append("42 set to 5")  # fully masked first word: still no merge
    assert len(set(_templates(lines))) == len(lines)


def test_few_valued_variables_learned_from_a_slot_with_many_values():
    users = ["admin", "oracle", "test", "guest", "support", "root"]
    lines = [f"Failed password for {u} from 10.0.0.{i} port 22 ssh2" for i, u in enumerate(users)]
    # only two users here: too few alone, but both were seen as values above
    lines += [
        f"Disconnecting: Too many authentication failures for {u} [preauth]" for u in users[:2]
    ]
    out = _templates(lines)
    assert set(out[-2:]) == {"Disconnecting: Too many authentication failures for <*> [preauth]"}


def test_hosts_of_a_small_fleet_alternate_across_events():
    hosts = ["atlas", "boreas", "castor"]
    events = [
        "heartbeat lost from {}, retrying",
        "node {} joined the cluster",
        "rebalancing shards away from {} now",
        "node {} left the cluster after a long wait",
    ]
    lines = [e.format(h) for e in events for h in hosts]
    # enumerations beside them: each alternates within its one event only
    lines += [
        f"[instance: {i}] VM {s} (Lifecycle Event)" for i, s in enumerate(("Paused", "Resumed"))
    ]
    lines += [
        f"{verb} TrustedInstaller {phase}."
        for verb in ("Starting", "Ending")
        for phase in ("initialization", "finalization")
    ]
    lines += [f"{verb} the TrustedInstaller main loop." for verb in ("Starting", "Ending")]
    out = _templates(lines)
    assert len(set(out[:12])) == 4
    assert "node <*> joined the cluster" in out
    assert len(set(out[12:])) == len(lines) - 12


def test_the_first_word_generalises_when_it_varies_across_events():
    programs = ["chrome.exe", "firefox.exe", "putty.exe", "Dropbox.exe", "WeChat.exe", "git.exe"]
    lines = []
    for i, prog in enumerate(programs):
        lines.append(
            f"{prog} - proxy.example.org:5070 open through proxy proxy.example.org:5070 HTTPS"
        )
        lines.append(
            f"{prog} - proxy.example.org:5070 close, {i}190 bytes ({i}.16 KB) sent, 86 bytes received, lifetime <1 sec"
        )
        lines.append(
            f"{prog} - proxy.example.org:5070 close, 45{i} bytes sent, 353 bytes received, lifetime 00:0{i}"
        )
    # an event seen with two programs only: known values by then
    lines += [
        f"{p} - proxy.example.org:5070 error : Could not connect through proxy"
        for p in programs[:2]
    ]
    out = _templates(lines)
    assert len(set(out)) == 3
    assert out[-1] == "<*> - proxy.example.org:<*> error : Could not connect through proxy"
    assert (
        out[1]
        == out[2]
        == "<*> - proxy.example.org:<*> close, <*> sent, <*> received, lifetime <*>"
    )


def test_dates_with_names_do_not_split_an_event():
    days = ["Fri Jun 17 07:07:00 2005", "Sat Jun 18 02:08:12 2005", "Mon Jul  4 23:01:59 2005"]
    lines = [f"connection from 10.0.0.{i} (h{i}.example.org) at {d}" for i, d in enumerate(days)]
    lines.append("connection from 10.0.0.9 () at Tue Jul  5 00:00:01 2005")
    assert set(_templates(lines)) == {"connection from <*> at <*>"}


def test_empty_key_values_are_values():
    lines = [
        "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=1.2.3.4",
        "authentication failure; logname= uid=0 euid=0 tty=ssh ruser=bob rhost=a.example.org",
    ]
    assert len(set(_templates(lines))) == 1


def test_messages_of_other_lengths_never_interfere():
    base = ["Invalid user bob from 1.2.3.4"]
    noise = [
        f"completely different message number {i} with words {w}" for i, w in enumerate("abcdefgh")
    ]
    assert _templates(base)[0] == _templates(base + noise)[0] == "Invalid user bob from <*>"


# --------------------------------------------------------------------------------------------
# IDs: stable across batches, runs, order and hash seed
# --------------------------------------------------------------------------------------------

HDFS_LIKE = [
    "Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6",
    "Receiving block blk_7503483334202473044 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
    "PacketResponder 2 for block blk_-1608999687919862906 terminating",
    "BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is added to blk_7128370237687728475 size 67108864",
]


def test_same_message_same_id_alone_or_in_a_batch():
    contents, _ = load_loghub("HDFS")
    in_batch = mine_patterns(contents + HDFS_LIKE).ids[-len(HDFS_LIKE) :]
    alone = [mine_patterns([m]).ids[0] for m in HDFS_LIKE]
    assert list(in_batch) == alone


def test_windows_mined_together_share_ids():
    contents, _ = load_loghub("OpenSSH")
    baseline, incident = contents[:1000], contents[1000:]
    ids = mine_patterns(baseline + incident).ids
    first_id: dict[str, str] = {}
    for message, pid in zip(baseline + incident, ids, strict=True):
        assert first_id.setdefault(message, pid) == pid
    assert len(set(ids[:1000]) & set(ids[1000:])) >= 10


# OpenSSH and Windows learn known values across events (user names, registry hives)
@pytest.mark.parametrize("system", ["Hadoop", "OpenSSH", "Windows"])
def test_ids_do_not_depend_on_line_order(system: str):
    contents, _ = load_loghub(system)
    shuffled = contents[:]
    random.Random(7).shuffle(shuffled)
    first = dict(zip(contents, mine_patterns(contents).ids, strict=True))
    second = dict(zip(shuffled, mine_patterns(shuffled).ids, strict=True))
    assert first == second


@pytest.mark.parametrize("system", ["Zookeeper", "OpenSSH"])
def test_ids_are_the_same_under_another_hash_seed(system: str):
    contents, _ = load_loghub(system)
    code = (
        "import json, sys; from tasks.baseline.patterns import mine_patterns; "
        "print(json.dumps(list(mine_patterns(json.load(sys.stdin)).ids)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    run = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(contents),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(run.stdout) == list(mine_patterns(contents).ids)


def test_pattern_id_is_a_hash_of_the_template():
    result = mine_patterns(["Invalid user bob from 1.2.3.4"])
    ((pid, template),) = result.templates.items()
    assert pid == pattern_id(template) == pattern_id("Invalid user bob from <*>")
    assert pid.startswith("p") and len(pid) == 11


def test_chunked_parallel_path_matches_single_chunk(monkeypatch: pytest.MonkeyPatch):
    contents, _ = load_loghub("OpenStack")
    whole = mine_patterns(contents)
    monkeypatch.setattr(patterns, "_CHUNK_LINES", 97)
    chunked = mine_patterns(contents)
    assert list(chunked.ids) == list(whole.ids)
    assert chunked.templates == whole.templates


def test_arrow_input_matches_list_input():
    contents, _ = load_loghub("Spark")
    expected = list(mine_patterns(contents).ids)
    assert list(mine_patterns(pa.array(contents)).ids) == expected
    assert list(mine_patterns(pa.chunked_array([contents[:700], contents[700:]])).ids) == expected
    assert list(mine_patterns(np.array(contents, dtype=object)).ids) == expected
    indexed = pd.Series(contents, index=range(100, 100 + len(contents)), dtype="str")
    assert list(mine_patterns(indexed).ids) == expected


# --------------------------------------------------------------------------------------------
# Awkward input
# --------------------------------------------------------------------------------------------


def test_empty_input():
    result = mine_patterns([])
    assert isinstance(result.ids, np.ndarray) and result.ids.dtype == object
    assert len(result.ids) == 0 and result.templates == {}
    assert list(iter_pattern_records([])) == []


def test_none_and_empty_messages_share_the_empty_pattern():
    result = mine_patterns([None, "", "   ", "Invalid user bob from 1.2.3.4", float("nan")])
    ids = list(result.ids)
    assert len(ids) == 5 and ids[0] == ids[1] == ids[2] == ids[4] != ids[3]
    assert result.templates[ids[0]] == ""
    assert all(isinstance(i, str) for i in ids)


def test_bytes_invalid_utf8_and_lone_surrogates_are_tolerated():
    result = mine_patterns([b"user 1 logged in", b"\xff\xfe user 2", "bad \udcff 3", "日本語 4"])
    templates = [result.templates[i] for i in result.ids]
    assert templates[0] == "user <*> logged in"
    assert templates[3] == "日本語 <*>"
    assert all(WILDCARD in t for t in templates)
    binary = mine_patterns(pa.array([b"user 1 logged in", b"\xff 2", None], pa.binary()))
    assert binary.ids[0] == result.ids[0]


def test_long_messages_are_cut_before_mining():
    head = "payload dump " + "x" * MAX_MESSAGE_CHARS
    a = head + " tail-a " * 100_000  # about 800 kB
    b = head + " tail-b " * 120_000
    result = mine_patterns([a, b])
    assert result.ids[0] == result.ids[1]
    assert len(result.templates[result.ids[0]]) <= MAX_MESSAGE_CHARS
    assert mask_message(a) == mask_message(a[:MAX_MESSAGE_CHARS])


def test_iter_pattern_records_numbers_lines_from_one():
    messages = ["Invalid user bob from 1.2.3.4", None, "Invalid user bob from 5.6.7.8"]
    records = list(iter_pattern_records(messages))
    assert [r["line"] for r in records] == [1, 2, 3]
    assert records[0]["pattern_id"] == records[2]["pattern_id"] != records[1]["pattern_id"]
    assert records[0]["pattern"] == "Invalid user bob from <*>"
    assert set(records[0]) == {"line", "pattern_id", "pattern"}
    result = mine_patterns(messages)
    assert [r["pattern_id"] for r in records] == list(result.ids)


# Long messages reach the cut by every input route: a list is cut in Python, Arrow and pandas
# input by Arrow's kernel, which once named a function pyarrow does not have.
LONG_INPUTS = {
    "ascii": "payload dump id 42 " + "x" * (2 * MAX_MESSAGE_CHARS),
    "multibyte": "数据 dump id 42 " + "日本語é" * MAX_MESSAGE_CHARS,
    "10MB": "heap dump 7 " + "ab " * (10 * 1024 * 1024 // 3),
}


def _as_list(messages: list[str]) -> list[str]:
    return messages


def _as_arrow(messages: list[str]) -> pa.Array:
    return pa.array(messages)


def _as_chunked_large(messages: list[str]) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(messages, pa.large_string())])


def _as_pandas(messages: list[str]) -> pd.Series:
    return pd.Series(messages, dtype="str")


@pytest.mark.parametrize("kind", sorted(LONG_INPUTS))
@pytest.mark.parametrize("convert", [_as_list, _as_arrow, _as_chunked_large, _as_pandas])
def test_long_messages_are_cut_by_every_input_route(kind: str, convert):
    long = LONG_INPUTS[kind]
    messages = ["Invalid user bob from 1.2.3.4", long, None, long + " tail"]
    result = mine_patterns(convert(messages))
    assert len(result.ids) == 4
    # the tail lies beyond the cut, so both long lines are one pattern, and the short one
    # is untouched by its neighbours
    assert result.ids[1] == result.ids[3] != result.ids[0]
    assert result.templates[result.ids[0]] == "Invalid user bob from <*>"
    template = result.templates[result.ids[1]]
    assert template == mask_message(long[:MAX_MESSAGE_CHARS])
    assert list(result.ids) == list(mine_patterns(messages).ids)


def test_the_cut_counts_characters_not_bytes():
    # 3 bytes per character: over the limit in bytes, under it in characters
    fits = "日本語 " * (MAX_MESSAGE_CHARS // 4 - 1) + "end"
    assert len(fits) <= MAX_MESSAGE_CHARS < len(fits.encode())
    for arr in ([fits], pa.array([fits])):
        template = next(iter(mine_patterns(arr).templates.values()))
        assert template.endswith("日本語 end")
    over = "é" * (MAX_MESSAGE_CHARS + 10)
    template = next(iter(mine_patterns(pa.array([over])).templates.values()))
    assert template == "é" * MAX_MESSAGE_CHARS


def test_one_line():
    result = mine_patterns(["Invalid user bob from 1.2.3.4"])
    assert len(result.ids) == 1
    assert result.templates == {result.ids[0]: "Invalid user bob from <*>"}


def test_only_none_values():
    result = mine_patterns([None, None])
    assert result.ids[0] == result.ids[1]
    assert result.templates == {result.ids[0]: ""}
    assert list(mine_patterns(pa.array([None, None], pa.string())).ids) == list(result.ids)


def test_text_with_replacement_characters_is_mined_like_any_text():
    # what a reader that decoded invalid UTF-8 with errors="replace" hands over
    raw = [b"user \xff\xfe 1 logged in", b"user \xff\xfe 2 logged in"]
    decoded = [r.decode("utf-8", "replace") for r in raw]
    result = mine_patterns(decoded)
    assert result.ids[0] == result.ids[1]
    assert result.templates[result.ids[0]] == "user \ufffd\ufffd <*> logged in"
    assert list(mine_patterns(raw).ids) == list(result.ids)
