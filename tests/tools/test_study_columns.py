"""The growth study's columns against independent arithmetic, its events, sweeps and output."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from kvalloc import PAGE_SIZE, Kernel
from kvalloc.tools.cli import main
from kvalloc.tools.study import (
    EVENT_KEYS,
    EVENT_RUN_KEYS,
    GLOSSARY,
    GROWTH_COLUMNS,
    RunSpec,
    explain,
    format_growth,
    growth_study,
    run_growth,
    sweep_points,
    sweep_rows,
    write_events,
)

LATEST = "e64f42036ef4"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def rust_kvec_caps(n: int) -> list[int]:
    """Capacities RUST_KVEC passes through for n pushes: max(2 * cap, cap + 1)."""
    caps, cap = [], 0
    for length in range(n):
        if length == cap:
            cap = max(2 * cap, length + 1)
            caps.append(cap)
    return caps


def test_rust_kvec_on_vmalloc_at_50000_u64_matches_the_arithmetic() -> None:
    row = run_growth(RunSpec("vmalloc", "rust_kvec", LATEST, elements=50_000)).row()
    caps = rust_kvec_caps(50_000)                       # 1, 2, 4, ..., 65536: 17 capacities
    assert len(caps) == 17 and caps[-1] == 65536
    # a resize stays in place while the new size fits the area's pages (cap <= 512 u64 in one
    # page); past that latest moves, copying the old requested bytes
    moves = [c for c in caps[1:] if c * 8 > PAGE_SIZE]
    assert (row["fresh"], row["reallocs"], row["in_place"], row["moved"]) == (1, 16, 9, 7)
    assert row["bytes_copied"] == sum(c * 8 // 2 for c in moves) == 520_192
    assert row["worst_copy_bytes"] == 32768 * 8
    assert row["copies_per_element"] == round(520_192 / 8 / 50_000, 4)
    assert row["capacity"] == 65536 and row["allocated_bytes"] == 65536 * 8
    assert row["allocator_slack_bytes"] == 0
    assert row["container_slack_bytes"] == (65536 - 50_000) * 8
    assert row["data_pages"] == 128
    assert (row["vrealloc_fresh"], row["vrealloc_in_place"], row["vrealloc_moved"]) == (1, 9, 7)


def test_in_place_plus_moved_is_reallocs_and_events_sum_to_the_row() -> None:
    rows, runs = growth_study(3000, allocs=["kmalloc", "vmalloc", "kvmalloc", "moveonly"],
                              policies=["rust_kvec", "cpython_list", "factor_1_5", "exact"])
    for row, run in zip(rows, runs):
        assert row["in_place"] + row["moved"] == row["reallocs"]
        assert row["bytes_copied"] == sum(e["bytes_copied"] for e in run.events)
        assert row["worst_copy_bytes"] == max(e["bytes_copied"] for e in run.events)
        assert row["fresh"] == 1 and run.events[0]["outcome"] == "fresh"
        assert [e["seq"] for e in run.events] == list(range(len(run.events)))


@pytest.mark.parametrize("alloc", ["kmalloc", "vmalloc", "kvmalloc"])
def test_allocated_bytes_is_what_the_kernel_gives_for_the_capacity(alloc: str) -> None:
    for n in (1, 100, 513, 3000, 70_000):
        row = run_growth(RunSpec(alloc, "cpython_list", LATEST, elements=n)).row()
        k = Kernel()
        size = row["requested_bytes"]
        if alloc == "kmalloc" or (alloc == "kvmalloc" and size <= 4 << 20):
            p = k.kmalloc(size)
            assert p is not None and row["allocated_bytes"] == k.ksize(p)
        else:
            p = k.vmalloc(size)
            area = k.find_vm_area(p or 0)
            assert area is not None and row["allocated_bytes"] == area.nr_pages * PAGE_SIZE
        assert row["allocator_slack_bytes"] == row["allocated_bytes"] - size


@pytest.mark.parametrize("alloc, policy", [("vmalloc", "rust_kvec"), ("vmalloc", "exact"),
                                           ("kmalloc", "factor_1_5"), ("kvmalloc", "cpython_list"),
                                           ("moveonly", "rust_kvec")])
def test_every_sweep_point_equals_a_direct_run(alloc: str, policy: str) -> None:
    points = sweep_points(10, 6000, 7)
    run = run_growth(RunSpec(alloc, policy, LATEST, elements=max(points)))
    for swept, n in zip(sweep_rows(run, points), points):
        direct = run_growth(RunSpec(alloc, policy, LATEST, elements=n)).row()
        assert swept == direct, n


def test_sweep_points_are_log_spaced_and_validated() -> None:
    assert sweep_points(1000, 1_000_000, 4) == [1000, 10_000, 100_000, 1_000_000]
    assert sweep_points(5, 5, 3) == [5]
    with pytest.raises(ValueError, match=r"^--sweep needs 1 <= START <= STOP, got 9:3$"):
        sweep_points(9, 3, 2)


def test_profile_free_allocators_run_once_and_match_a_run_per_profile() -> None:
    rows, _ = growth_study(2000, allocs=["kmalloc", "moveonly"], policies=["rust_kvec", "exact"],
                           profiles=["v6.12", "latest"])
    for row in rows:
        direct = run_growth(RunSpec(row["alloc"], row["policy"], row["profile"],
                                    elements=2000)).row()
        assert row == direct


def test_a0309faf1cb0_counts_fall_throughs_and_f7a35a3c36d1_does_not() -> None:
    bug = run_growth(RunSpec("vmalloc", "exact", "a0309faf1cb0", elements=2000)).row()
    fix = run_growth(RunSpec("vmalloc", "exact", "f7a35a3c36d1", elements=2000)).row()
    assert bug["in_place"] == 0 and bug["vrealloc_fallthrough"] > 0
    assert bug["vrealloc_moved"] == bug["moved"]
    assert fix["vrealloc_fallthrough"] == 0 and fix["in_place"] > 0
    assert bug["bytes_copied"] > 100 * fix["bytes_copied"]


def test_peak_pages_count_old_and_new_buffers_during_a_move() -> None:
    row = run_growth(RunSpec("moveonly", "rust_kvec", LATEST, elements=40_000)).row()
    # the last move holds the 32768-element (64 pages) and 65536-element (128 pages)
    # buffers at once
    assert row["peak_pages"] >= 64 + 128
    assert row["data_pages"] == 128 and row["peak_pages"] > row["data_pages"] + row["metadata_pages"]


def test_events_jsonl_has_exactly_the_documented_keys() -> None:
    _, runs = growth_study(100, allocs=["vmalloc"], policies=["rust_kvec"])
    out = io.StringIO()
    n = write_events(runs, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(lines) == len(runs[0].events)
    assert all(list(e) == [*EVENT_KEYS, *EVENT_RUN_KEYS] for e in lines)
    assert lines[0]["outcome"] == "fresh" and lines[0]["alloc"] == "vmalloc"


def test_every_column_is_explained_and_documented() -> None:
    text = explain()
    doc = (ROOT / "docs" / "study.md").read_text()
    for col in GROWTH_COLUMNS:
        assert f"\n{col} " in "\n" + text
        assert f"`{col}`" in doc, col
    assert max(map(len, text.splitlines())) <= 100
    assert set(GLOSSARY) == set(GROWTH_COLUMNS)


def test_default_table_fits_120_columns() -> None:
    rows, _ = growth_study(600_000, allocs=["kmalloc", "vmalloc"], policies=["rust_kvec"],
                           profiles=["v6.12", "latest"])
    text = format_growth(rows)
    assert max(map(len, text.splitlines())) <= 120
    assert text.splitlines()[0].split()[:4] == ["alloc", "policy", "profile", "N"]
    assert "refused: kmalloc/rust_kvec on v6.12 at len 524288" in text


def test_cli_events_sweep_wide_and_output_checks(tmp_path: pathlib.Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ev, js = tmp_path / "e.jsonl", tmp_path / "r.json"
    assert main(["study", "growth", "--alloc", "vmalloc", "--policy", "rust_kvec",
                 "--sweep", "100:10000:3", "--events", str(ev), "--json", str(js), "--wide"]) == 0
    rows = json.loads(js.read_text())
    assert [r["elements"] for r in rows] == [100, 1000, 10000]
    assert len(ev.read_text().splitlines()) == 15          # caps 1 .. 16384
    assert capsys.readouterr().out.splitlines()[0].split() == list(GROWTH_COLUMNS)
    with pytest.raises(SystemExit) as e:
        main(["study", "growth", "--json", str(tmp_path / "no" / "r.json")])
    assert e.value.code == 2
    assert capsys.readouterr().err == (f"kvalloc: error: --json {tmp_path / 'no' / 'r.json'}: "
                                       f"no such directory {tmp_path / 'no'}\n")
    assert main(["study", "growth", "--elements", "10", "--alloc", "vmalloc", "--policy",
                 "exact", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["reallocs"] == 9


def test_elements_of_any_size() -> None:
    row = run_growth(RunSpec("kvmalloc", "rust_kvec", LATEST, elem="24B", elements=1000)).row()
    assert row["elem_size"] == 24 and row["requested_bytes"] == 1024 * 24
