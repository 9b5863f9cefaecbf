"""Workload operation traces (kvalloc.tools.trace): the Op type, the text format, the named
generators, the registry, summary(), and the examples of docs/workloads.md."""

from __future__ import annotations

import dataclasses
import enum
import pathlib
import re

import pytest
from hypothesis import given, settings, strategies as st

from kvalloc.tools.trace import (
    OPS,
    RAW_OPS,
    VECTOR_OPS,
    WORKLOADS,
    Op,
    bpf_insn_hist,
    burst,
    format_trace,
    load_trace,
    parse_trace,
    push,
    random_ops,
    sawtooth,
    summary,
    workload_ops,
)

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "workloads.md"
VALID = "push, extend, reserve, truncate, shrink_to, drop, vrealloc, kvrealloc, krealloc"
LIMIT = 1 << 64


# -- Op -------------------------------------------------------------------------------------

def test_op_names() -> None:
    assert VECTOR_OPS == ("push", "extend", "reserve", "truncate", "shrink_to", "drop")
    assert RAW_OPS == ("vrealloc", "kvrealloc", "krealloc")
    assert OPS == VECTOR_OPS + RAW_OPS
    assert ", ".join(OPS) == VALID


def test_op_fields_defaults_and_str() -> None:
    op = Op("push", 100)
    assert (op.name, op.arg, op.buf) == ("push", 100, 0)
    assert repr(op) == "Op(name='push', arg=100, buf=0)"
    assert str(op) == "push 100"
    assert str(Op("vrealloc", 8192, buf=3)) == "3: vrealloc 8192"
    assert str(Op("drop", 0)) == "drop"
    assert str(Op("drop", 0, 7)) == "7: drop"
    assert Op("push", 1) == Op("push", 1, 0) and Op("push", 1) != Op("push", 1, 1)
    assert len({Op("push", 1), Op("push", 1), Op("extend", 1)}) == 2


def test_op_is_frozen_and_slotted() -> None:
    op = Op("push", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.arg = 2  # type: ignore[misc]
    assert not hasattr(op, "__dict__")
    assert Op.__slots__ == ("name", "arg", "buf")


def test_op_normalises_int_subclasses() -> None:
    class Size(enum.IntEnum):
        PAGE = 4096

    op = Op("vrealloc", Size.PAGE, Size.PAGE)
    assert type(op.arg) is int and type(op.buf) is int
    assert op == Op("vrealloc", 4096, 4096) and str(op) == "4096: vrealloc 4096"


@pytest.mark.parametrize(("args", "exc", "message"), [
    (("psuh", 1), ValueError, f"unknown operation 'psuh'; valid: {VALID}"),
    (("", 1), ValueError, f"unknown operation ''; valid: {VALID}"),
    ((5, 1), TypeError, "name must be str, not int"),
    (("push", "1"), TypeError, "arg must be int, not str"),
    (("push", True), TypeError, "arg must be int, not bool"),
    (("push", 1.0), TypeError, "arg must be int, not float"),
    (("push", -1), ValueError, "arg must lie in [0, 2**64), got -1"),
    (("push", LIMIT), ValueError, f"arg must lie in [0, 2**64), got {LIMIT}"),
    (("push", 1, None), TypeError, "buf must be int, not NoneType"),
    (("push", 1, -2), ValueError, "buf must lie in [0, 2**64), got -2"),
    (("push", 1, LIMIT), ValueError, f"buf must lie in [0, 2**64), got {LIMIT}"),
    (("drop", 5), ValueError, "arg must be 0 for drop, got 5"),
])
def test_op_rejects(args: tuple[object, ...], exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as info:
        Op(*args)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_op_bounds_are_inclusive_below() -> None:
    assert Op("vrealloc", 0, 0).arg == 0
    assert Op("vrealloc", LIMIT - 1, LIMIT - 1).buf == LIMIT - 1


# -- parse_trace / format_trace -------------------------------------------------------------

def test_parse_every_operation() -> None:
    text = ("push 100\nextend 20\nreserve 5\ntruncate 3\nshrink_to 0\ndrop\n"
            "1: vrealloc 8192\n2: kvrealloc 16\n3: krealloc 64\n")
    assert parse_trace(text) == [
        Op("push", 100), Op("extend", 20), Op("reserve", 5), Op("truncate", 3),
        Op("shrink_to", 0), Op("drop", 0), Op("vrealloc", 8192, 1), Op("kvrealloc", 16, 2),
        Op("krealloc", 64, 3),
    ]


def test_parse_skips_blank_lines_and_comments() -> None:
    text = "# header\n\n   \npush 1   # trailing comment\n\t# indented comment\n#\npush 2"
    assert parse_trace(text) == [Op("push", 1), Op("push", 2)]
    assert parse_trace("") == [] and parse_trace("\n\n# only comments\n") == []


@pytest.mark.parametrize("line", [
    "3: vrealloc 8192", "3:vrealloc 8192", "  3 :  vrealloc\t8192  ", "3\t:\tvrealloc 8192\r",
    "0x3: vrealloc 0x2000", "0X3: vrealloc 0X2000", "003: vrealloc 0008192",
    "3: vrealloc 8192 # comment: with a colon",
])
def test_parse_is_whitespace_and_radix_tolerant(line: str) -> None:
    assert parse_trace(line) == [Op("vrealloc", 8192, 3)]


def test_parse_crlf_and_drop_zero() -> None:
    assert parse_trace("push 1\r\ndrop\r\ndrop 0\r\n2: drop 0x0\r\n") == [
        Op("push", 1), Op("drop", 0), Op("drop", 0), Op("drop", 0, 2)]


def test_parse_accepts_size_t_extremes() -> None:
    big = LIMIT - 1
    assert parse_trace(f"{big}: vrealloc {big}") == [Op("vrealloc", big, big)]
    assert parse_trace(f"0x{big:x}: krealloc 0x{big:X}") == [Op("krealloc", big, big)]
    assert parse_trace("0x" + "0" * 40 + "1: push " + "0" * 40 + "7") == [Op("push", 7, 1)]


ERRORS = [
    ("psuh 2", f"line 1: unknown operation 'psuh'; valid: {VALID}"),
    ("PUSH 2", f"line 1: unknown operation 'PUSH'; valid: {VALID}"),
    ("100", f"line 1: unknown operation '100'; valid: {VALID}"),
    ("shrink_to_fit", f"line 1: unknown operation 'shrink_to_fit'; valid: {VALID}"),
    ("push -1", "line 1: push needs a count >= 0, got '-1'"),
    ("push", "line 1: push needs a count >= 0, got nothing"),
    ("push   # no count", "line 1: push needs a count >= 0, got nothing"),
    ("push 1 2", "line 1: push takes one count, got '1 2'"),
    ("push 1.5", "line 1: push needs a count >= 0, got '1.5'"),
    ("push +1", "line 1: push needs a count >= 0, got '+1'"),
    ("push 1_000", "line 1: push needs a count >= 0, got '1_000'"),
    ("push 0x", "line 1: push needs a count >= 0, got '0x'"),
    ("push 0xg", "line 1: push needs a count >= 0, got '0xg'"),
    ("push ١٢", "line 1: push needs a count >= 0, got '١٢'"),
    ("push 18446744073709551616",
     "line 1: push needs a count < 2**64, got '18446744073709551616'"),
    ("push 0x10000000000000000",
     "line 1: push needs a count < 2**64, got '0x10000000000000000'"),
    ("push " + "9" * 5000, "line 1: push needs a count < 2**64, got '" + "9" * 5000 + "'"),
    ("extend x", "line 1: extend needs a count >= 0, got 'x'"),
    ("reserve", "line 1: reserve needs a count >= 0, got nothing"),
    ("truncate -3", "line 1: truncate needs a length >= 0, got '-3'"),
    ("truncate 1 2", "line 1: truncate takes one length, got '1 2'"),
    ("shrink_to 1.5", "line 1: shrink_to needs a capacity >= 0, got '1.5'"),
    ("vrealloc -4096", "line 1: vrealloc needs a size >= 0, got '-4096'"),
    ("kvrealloc", "line 1: kvrealloc needs a size >= 0, got nothing"),
    ("krealloc 4k", "line 1: krealloc needs a size >= 0, got '4k'"),
    ("drop 5", "line 1: drop takes no argument, got '5'"),
    ("drop 0 0", "line 1: drop takes no argument, got '0 0'"),
    ("drop now", "line 1: drop takes no argument, got 'now'"),
    ("a: push 1", "line 1: buffer id must be an integer >= 0, got 'a'"),
    ("-1: push 1", "line 1: buffer id must be an integer >= 0, got '-1'"),
    ("push: 1", "line 1: buffer id must be an integer >= 0, got 'push'"),
    ("1 2: push 1", "line 1: buffer id must be an integer >= 0, got '1 2'"),
    ("18446744073709551616: push 1", "line 1: buffer id must be < 2**64, got '18446744073709551616'"),
    (": push 1", "line 1: missing buffer id before ':'"),
    ("3:", "line 1: missing operation after '3:'"),
    ("3:   # comment", "line 1: missing operation after '3:'"),
    ("1: 2: push 1", f"line 1: unknown operation '2:'; valid: {VALID}"),
]


@pytest.mark.parametrize(("line", "message"), ERRORS)
def test_parse_error_messages(line: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_trace(line)
    assert str(info.value) == message


def test_parse_error_line_numbers_count_every_line() -> None:
    with pytest.raises(ValueError) as info:
        parse_trace("push 1\n\n# comment\npush 2\npush -1\npsuh 3\n")
    assert str(info.value) == "line 5: push needs a count >= 0, got '-1'"
    with pytest.raises(ValueError) as info:
        parse_trace("push 1\r\n\r\npsuh 2\r\n")
    assert str(info.value) == f"line 3: unknown operation 'psuh'; valid: {VALID}"


def test_parse_needs_a_str() -> None:
    with pytest.raises(TypeError) as info:
        parse_trace(b"push 1")  # type: ignore[arg-type]
    assert str(info.value) == "text must be str, not bytes"


def test_format_trace() -> None:
    ops = [Op("push", 8), Op("kvrealloc", 32, 7), Op("drop", 0), Op("drop", 0, 2),
           Op("shrink_to", 0)]
    assert format_trace(ops) == "push 8\n7: kvrealloc 32\ndrop\n2: drop\nshrink_to 0\n"
    assert format_trace([]) == ""
    assert format_trace(iter(ops)) == format_trace(ops)


def test_format_trace_rejects_non_ops() -> None:
    with pytest.raises(TypeError) as info:
        format_trace([Op("push", 1), ("push", 1)])  # type: ignore[list-item]
    assert str(info.value) == "ops[1] must be Op, not tuple"


def test_round_trip_of_every_generator() -> None:
    for ops in (push(10), burst(1000), sawtooth(1000), bpf_insn_hist(100), random_ops(5000, 7),
                [Op("vrealloc", LIMIT - 1, LIMIT - 1), Op("drop", 0, 5)]):
        assert parse_trace(format_trace(ops)) == ops


# -- load_trace -----------------------------------------------------------------------------

def test_load_trace(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "w.trace"
    path.write_text("# captured\npush 5\n3: vrealloc 4096\ndrop\n", encoding="utf-8")
    expected = [Op("push", 5), Op("vrealloc", 4096, 3), Op("drop", 0)]
    assert load_trace(path) == expected
    assert load_trace(str(path)) == expected


def test_load_trace_errors_name_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.trace"
    path.write_text("push 1\n\npsuh 2\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_trace(path)
    assert str(info.value) == f"{path}: line 3: unknown operation 'psuh'; valid: {VALID}"
    with pytest.raises(FileNotFoundError):
        load_trace(tmp_path / "missing.trace")


# -- the named workloads --------------------------------------------------------------------

def test_push() -> None:
    assert push(1000) == [Op("push", 1000)]
    assert push(0) == [Op("push", 0)]


def test_burst_defaults() -> None:
    ops = burst(800)
    assert ops[:4] == [Op("push", 800), Op("truncate", 100), Op("shrink_to", 100), Op("push", 700)]
    s = summary(ops)
    assert (s["push"], s["truncate"], s["shrink_to"], s["ops"]) == (4, 4, 4, 12)
    assert (s["peak_len"], s["final_len"], s["pushed"]) == (800, 100, 800 + 3 * 700)


def test_burst_every_round_reaches_peak_then_floor() -> None:
    ops = burst(1000, peak=600, floor=50, rounds=5)
    assert len(ops) == 15
    length = 0
    for i in range(0, len(ops), 3):
        grow, cut, shrink = ops[i:i + 3]
        assert grow.name == "push" and length + grow.arg == 600
        assert cut == Op("truncate", 50) and shrink == Op("shrink_to", 50)
        length = 50
    s = summary(ops)
    assert (s["peak_len"], s["final_len"], s["pushed"]) == (600, 50, 600 + 4 * 550)


def test_burst_edges() -> None:
    assert burst(0) == [Op("push", 0), Op("truncate", 0), Op("shrink_to", 0)] * 4
    assert burst(10, peak=5, floor=5, rounds=2) == [
        Op("push", 5), Op("truncate", 5), Op("shrink_to", 5),
        Op("push", 0), Op("truncate", 5), Op("shrink_to", 5)]
    assert burst(7, rounds=1) == [Op("push", 7), Op("truncate", 0), Op("shrink_to", 0)]
    assert summary(burst(80, floor=0))["final_len"] == 0


@pytest.mark.parametrize(("kwargs", "exc", "message"), [
    ({"n": -1}, ValueError, "n must be >= 0, got -1"),
    ({"n": 1.5}, TypeError, "n must be int, not float"),
    ({"n": 10, "peak": -1}, ValueError, "peak must lie in [0, 2**64), got -1"),
    ({"n": 10, "floor": -1}, ValueError, "floor must be >= 0, got -1"),
    ({"n": 10, "floor": 11}, ValueError, "floor must be <= peak, got floor=11 and peak=10"),
    ({"n": 10, "peak": 4, "floor": 5}, ValueError, "floor must be <= peak, got floor=5 and peak=4"),
    ({"n": 10, "rounds": 0}, ValueError, "rounds must be >= 1, got 0"),
    ({"n": 10, "rounds": "4"}, TypeError, "rounds must be int, not str"),
    ({"n": 10, "peak": True}, TypeError, "peak must be int, not bool"),
])
def test_burst_rejects(kwargs: dict[str, object], exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as info:
        burst(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_sawtooth_shape() -> None:
    ops = sawtooth(90)
    assert [op.name for op in ops] == ["push", "truncate"] * 8
    assert [op.arg for op in ops[0::2]] == [20] * 8
    assert [op.arg for op in ops[1::2]] == [10, 20, 30, 40, 50, 60, 70, 80]
    s = summary(ops)
    assert (s["peak_len"], s["final_len"], s["pushed"]) == (90, 80, 160)


@pytest.mark.parametrize(("n", "teeth"), [(1000, 8), (50_000, 8), (12_345, 7), (10, 3), (5, 20), (1, 1)])
def test_sawtooth_climbs_to_n(n: int, teeth: int) -> None:
    ops = sawtooth(n, teeth)
    d = teeth + 1
    assert len(ops) == 2 * teeth
    length, tops = 0, []
    for i in range(teeth):
        grow, cut = ops[2 * i], ops[2 * i + 1]
        assert grow.name == "push" and cut.name == "truncate"
        rise = grow.arg
        length += rise
        tops.append(length)
        back = length - cut.arg
        assert 0 <= back <= length
        assert abs(back - rise / 2) <= 1          # back by half the rise
        length = cut.arg
    assert tops == sorted(tops) and tops[-1] == n
    s = summary(ops)
    assert (s["peak_len"], s["final_len"]) == (n, teeth * n // d)


def test_sawtooth_rejects() -> None:
    with pytest.raises(ValueError) as info:
        sawtooth(10, teeth=0)
    assert str(info.value) == "teeth must be >= 1, got 0"
    with pytest.raises(ValueError) as info:
        sawtooth(-5)
    assert str(info.value) == "n must be >= 0, got -5"


def test_bpf_insn_hist_sizes() -> None:
    ops = bpf_insn_hist(1000)
    assert len(ops) == 1000
    assert all(op.name == "kvrealloc" and op.buf == 0 for op in ops)
    assert [op.arg for op in ops] == [16 * k for k in range(1, 1001)]
    assert bpf_insn_hist(0) == []
    assert format_trace(bpf_insn_hist(3)) == "kvrealloc 16\nkvrealloc 32\nkvrealloc 48\n"
    s = summary(ops)
    assert (s["kvrealloc"], s["final_size"], s["peak_size"], s["final_len"]) == (1000, 16000, 16000, 0)
    with pytest.raises(ValueError) as info:
        bpf_insn_hist(-1)
    assert str(info.value) == "n must be >= 0, got -1"


@pytest.mark.parametrize("n", [0, 1, 10, 63, 64, 1000, 50_000])
def test_random_ops_pushes_exactly_n(n: int) -> None:
    ops = random_ops(n, seed=3)
    assert {op.name for op in ops} <= {"push", "truncate", "reserve", "shrink_to"}
    assert all(op.buf == 0 for op in ops)
    s = summary(ops)
    assert s["pushed"] == n and s["extend"] == s["drop"] == 0
    length = 0
    for op in ops:                 # truncates only cut, pushes are non-empty, reserves > 0
        if op.name == "push":
            assert op.arg >= 1
            length += op.arg
        elif op.name == "truncate":            # never of an empty vector, never a grow
            assert length > 0 and op.arg <= length
            length = op.arg
        elif op.name == "reserve":
            assert 1 <= op.arg <= max(1, n // 64)
        else:
            assert 0 <= op.arg <= length
    assert length == s["final_len"]


def test_random_ops_mix() -> None:
    ops = random_ops(50_000, seed=0)
    s = summary(ops)
    assert 150 <= s["ops"] <= 350
    assert min(s["push"], s["truncate"], s["reserve"], s["shrink_to"]) > 0
    length = pops = cuts = 0
    for op in ops:
        if op.name == "push":
            length += op.arg
        elif op.name == "truncate":
            pops += op.arg == length - 1
            cuts += op.arg < length - 1
            length = op.arg
    assert pops > 0 and cuts > 0


def test_random_ops_is_deterministic_by_seed() -> None:
    assert random_ops(5000, seed=42) == random_ops(5000, seed=42)
    assert random_ops(5000) == random_ops(5000, seed=0)
    assert random_ops(5000, seed=1) != random_ops(5000, seed=2)
    assert random_ops(5000, seed=-1) == random_ops(5000, seed=-1)
    # pinned: a change of the algorithm shows here (and in the docs' worked example)
    assert format_trace(random_ops(640, seed=0)[:4]) == "reserve 7\npush 9\npush 5\nshrink_to 5\n"


def test_random_ops_rejects() -> None:
    with pytest.raises(TypeError) as te:
        random_ops(10, seed="x")  # type: ignore[arg-type]
    assert str(te.value) == "seed must be int, not str"
    with pytest.raises(ValueError) as ve:
        random_ops(-1)
    assert str(ve.value) == "n must be >= 0, got -1"


# -- the registry ---------------------------------------------------------------------------

def test_workloads_registry() -> None:
    assert list(WORKLOADS) == ["push", "burst", "sawtooth", "bpf-insn-hist", "random"]
    assert WORKLOADS["push"] is push and WORKLOADS["bpf-insn-hist"] is bpf_insn_hist
    assert WORKLOADS["random"] is random_ops


def test_workload_ops_by_name() -> None:
    assert workload_ops("push", 100) == [Op("push", 100)]
    assert workload_ops("burst", 800) == burst(800)
    assert workload_ops("sawtooth", 90) == sawtooth(90)
    assert workload_ops("bpf-insn-hist", 5) == bpf_insn_hist(5)
    assert workload_ops("random", 900, seed=5) == random_ops(900, seed=5)
    assert workload_ops("random", 900) == random_ops(900, seed=0)
    assert workload_ops("push", 100, seed=9) == [Op("push", 100)]    # seed ignored


def test_workload_ops_from_a_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "captured.trace"
    path.write_text(format_trace(bpf_insn_hist(4)), encoding="utf-8")
    assert workload_ops(str(path), 0) == bpf_insn_hist(4)
    assert workload_ops(str(path), 999, seed=3) == bpf_insn_hist(4)      # n, seed unused


def test_workload_ops_registry_wins_over_a_file(tmp_path: pathlib.Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "push").write_text("drop\n", encoding="utf-8")
    (tmp_path / "mine").write_text("extend 3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert workload_ops("push", 7) == [Op("push", 7)]
    assert workload_ops("mine", 7) == [Op("extend", 3)]


UNKNOWN = "; valid: push, burst, sawtooth, bpf-insn-hist, random, or the path of a trace file"


def test_workload_ops_rejects(tmp_path: pathlib.Path) -> None:
    for name in ("pushh", "", str(tmp_path), str(tmp_path / "missing.trace")):
        with pytest.raises(ValueError) as info:
            workload_ops(name, 10)
        assert str(info.value) == f"unknown workload {name!r}{UNKNOWN}"
    with pytest.raises(TypeError) as te:
        workload_ops(tmp_path, 10)  # type: ignore[arg-type]
    assert str(te.value) == "name_or_path must be str, not PosixPath"
    with pytest.raises(ValueError) as info:
        workload_ops("push", -1)
    assert str(info.value) == "n must be >= 0, got -1"
    bad = tmp_path / "bad.trace"
    bad.write_text("push x\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        workload_ops(str(bad), 10)
    assert str(info.value) == f"{bad}: line 1: push needs a count >= 0, got 'x'"


# -- summary --------------------------------------------------------------------------------

def test_summary_keys_and_counts() -> None:
    s = summary([])
    assert list(s) == [*OPS, "ops", "buffers", "pushed", "final_len", "peak_len",
                       "final_size", "peak_size"]
    assert set(s.values()) == {0}
    s = summary(parse_trace("push 5\npush 5\nextend 3\n2: push 100\n1: vrealloc 64\n"))
    assert (s["push"], s["extend"], s["vrealloc"], s["ops"], s["buffers"]) == (3, 1, 1, 5, 3)


def test_summary_length_arithmetic_for_vector_0() -> None:
    ops = parse_trace("""
        reserve 1000      # no length change
        push 10
        extend 5          # 15
        truncate 20       # no-op: min(15, 20)
        truncate 4        # 4
        shrink_to 0       # length kept
        push 6            # 10
        7: push 1000      # another vector: ignored for the lengths
        3: kvrealloc 999  # a raw buffer: ignored for the lengths
        drop              # 0
        push 2            # a new vector: 2
    """)
    s = summary(ops)
    assert (s["pushed"], s["final_len"], s["peak_len"]) == (23, 2, 15)
    assert s["buffers"] == 3


def test_summary_raw_buffer_0() -> None:
    s = summary(parse_trace("vrealloc 100\nvrealloc 8192\nvrealloc 50\n5: vrealloc 99999\n"))
    assert (s["final_size"], s["peak_size"]) == (50, 8192)
    assert summary(parse_trace("krealloc 64\nkrealloc 0\n"))["final_size"] == 0
    # vector 0 and raw buffer 0 are different objects
    s = summary(parse_trace("push 3\nkvrealloc 16\n"))
    assert (s["buffers"], s["final_len"], s["final_size"]) == (2, 3, 16)


def test_summary_rejects_non_ops() -> None:
    with pytest.raises(TypeError) as info:
        summary(["push 1"])  # type: ignore[list-item]
    assert str(info.value) == "ops[0] must be Op, not str"


# -- docs/workloads.md ----------------------------------------------------------------------

def _text_blocks() -> list[str]:
    return re.findall(r"```text\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_docs_worked_examples_are_exact() -> None:
    blocks = _text_blocks()
    for ops in (push(5), burst(80), sawtooth(90, teeth=3), bpf_insn_hist(4),
                random_ops(640, seed=0)[:10]):
        assert format_trace(ops) in blocks


def test_docs_format_example_parses() -> None:
    example = next(b for b in _text_blocks() if b.startswith("# a comment"))
    assert parse_trace(example) == [Op("push", 100), Op("reserve", 50), Op("extend", 64),
                                    Op("vrealloc", 8192, 3), Op("vrealloc", 0, 3), Op("drop", 0)]


def test_docs_error_table_is_exact() -> None:
    rows = re.findall(r"^\| `([^`]*)` \| `(line 1: [^`]*)` \|$", DOC.read_text(encoding="utf-8"), re.M)
    assert len(rows) >= 10
    for line, message in rows:
        with pytest.raises(ValueError) as info:
            parse_trace(line)
        assert str(info.value) == message


# -- properties -----------------------------------------------------------------------------

ints = st.one_of(st.integers(0, 20), st.integers(0, LIMIT - 1))


@st.composite
def ops_strategy(draw: st.DrawFn) -> Op:
    name = draw(st.sampled_from(OPS))
    return Op(name, 0 if name == "drop" else draw(ints), draw(ints))


@settings(max_examples=300, deadline=None)
@given(st.lists(ops_strategy(), max_size=30))
def test_property_round_trip(ops: list[Op]) -> None:
    text = format_trace(ops)
    assert parse_trace(text) == ops
    assert format_trace(parse_trace(text)) == text
    assert text.count("\n") == len(ops)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ops_strategy(), st.sampled_from(["", " ", "\t", "  "]),
                          st.sampled_from(["", " # c", "\t#x: push 1", "#"]), st.booleans()),
                max_size=20))
def test_property_layout_does_not_matter(rows: list[tuple[Op, str, str, bool]]) -> None:
    lines = []
    for op, pad, comment, hexa in rows:
        num = (lambda v: f"0x{v:x}") if hexa else str
        arg = "" if op.name == "drop" else f"{pad} {num(op.arg)}"
        lines.append(f"{pad}{num(op.buf)}{pad}:{pad}{op.name}{arg}{pad}{comment}")
        lines.append(pad + comment)                       # a blank or comment-only line
    assert parse_trace("\n".join(lines)) == [op for op, *_ in rows]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("pushdroxv:# \t\n\r0123456789-.ab_")), max_size=60))
def test_property_garbage_raises_only_value_error(text: str) -> None:
    try:
        ops = parse_trace(text)
    except ValueError as e:
        assert re.match(r"line \d+: ", str(e))
    else:
        assert all(isinstance(op, Op) for op in ops)


@settings(max_examples=100, deadline=None)
@given(st.lists(ops_strategy(), max_size=40))
def test_property_summary_counts(ops: list[Op]) -> None:
    s = summary(ops)
    assert sum(s[name] for name in OPS) == s["ops"] == len(ops)
    vec0 = [op for op in ops if op.buf == 0 and op.name in VECTOR_OPS]
    assert s["pushed"] == sum(op.arg for op in vec0 if op.name in ("push", "extend"))
    assert 0 <= s["final_len"] <= s["peak_len"] <= s["pushed"]
