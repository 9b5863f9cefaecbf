"""The growth study's columns against independent arithmetic, its events, sweeps and output."""

from __future__ import annotations

import io
import json
import pathlib
from typing import Any

import pytest

from kvalloc import PAGE_SIZE, Kernel, Layout, Vmalloc
from kvalloc.tools import study
from kvalloc.tools.background import fragmentation
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

from ..helpers import default_sigint

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
    run = run_growth(RunSpec(alloc, policy, LATEST, elements=max(points)), points=points)
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


def test_default_table_fits_126_columns() -> None:
    rows, _ = growth_study(600_000, allocs=["kmalloc", "vmalloc"], policies=["rust_kvec"],
                           profiles=["v6.12", "latest"])
    text = format_growth(rows)
    assert max(map(len, text.splitlines())) <= 126
    assert text.splitlines()[0].split()[:4] == ["alloc", "policy", "profile", "N"]
    assert "* refused before N: kmalloc/rust_kvec on v6.12 at len 524288" in text


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


def test_bpf_insn_hist_shows_the_a0309faf1cb0_regression(tmp_path: pathlib.Path) -> None:
    # the BPF verifier's pattern (one 16-byte entry more per call), on vrealloc itself so
    # that a small N reaches vmalloc; bpf-insn-hist does the same through kvrealloc
    trace = tmp_path / "hist.trace"
    trace.write_text("".join(f"vrealloc {16 * i}\n" for i in range(1, 3001)))
    rows, _ = growth_study(3000, elem="16B", workload=str(trace),
                           profiles=["a0309faf1cb0", "f7a35a3c36d1"])
    bug, fix = rows
    assert (bug["alloc"], bug["policy"], fix["profile"]) == ("vrealloc", "-", "f7a35a3c36d1")
    assert bug["reallocs"] == fix["reallocs"] == 2999
    assert (bug["in_place"], bug["moved"]) == (0, 2999) and bug["vrealloc_fallthrough"] > 2900
    assert fix["vrealloc_fallthrough"] == 0 and fix["moved"] < 20
    assert bug["bytes_copied"] > 200 * fix["bytes_copied"]
    # every call copies the whole history: sum of 16 * i for i < 3000
    assert bug["bytes_copied"] == sum(16 * i for i in range(1, 3000))


def test_named_workloads_run_and_shrink(tmp_path: pathlib.Path) -> None:
    for name in ("burst", "sawtooth", "random"):
        rows, runs = growth_study(4000, allocs=["vmalloc"], policies=["rust_kvec"], workload=name)
        row = rows[0]
        assert row["workload"] == name and row["status"] == "ok"
        assert row["in_place"] + row["moved"] == row["reallocs"]
        assert row["len"] <= row["capacity"]
    burst = growth_study(4000, allocs=["vmalloc"], policies=["rust_kvec"], workload="burst")[1][0]
    caps = [e["new_capacity"] for e in burst.events]
    assert max(caps) >= 4000 and caps[-1] == 500             # shrunk to the floor, N // 8


def test_several_vectors_with_churn_change_with_the_seed_and_stay_checked() -> None:
    a = growth_study(3000, allocs=["vmalloc"], policies=["rust_kvec"], vectors=4,
                     churn="random_size_alloc_test", seed=1)[0][0]
    b = growth_study(3000, allocs=["vmalloc"], policies=["rust_kvec"], vectors=4,
                     churn="random_size_alloc_test", seed=2)[0][0]
    assert a["vectors"] == 4 and a["len"] == 12_000 and a["fresh"] == 4
    frag = ("free_areas", "largest_hole_bytes", "va_span_bytes", "lazy_va_bytes")
    assert [a[c] for c in frag] != [b[c] for c in frag]
    # run_growth ends with Kernel.check() on every run


@pytest.mark.parametrize("case", ["random_size_alloc_test", "full_fit_alloc_test"])
def test_the_churns_pages_ptes_and_purges_are_not_the_runs(case: str) -> None:
    # kmalloc'd vectors do the same page work whatever the vmalloc churn beside them does
    kw: dict[str, Any] = dict(allocs=["kmalloc", "vmalloc"], policies=["rust_kvec", "exact"],
                              vectors=2)
    quiet = growth_study(3000, **kw)[0]
    busy = growth_study(3000, churn=case, **kw)[0]
    for q, b in zip(quiet, busy):
        if b["alloc"] == "kmalloc":
            for col in ("data_pages", "ptes_mapped", "ptes_unmapped", "purges", "tlb_flushes",
                        "bytes_copied"):
                assert b[col] == q[col], (b["policy"], col)
        # a slab page shared with the churn counts to whoever took it or gave it back last
        assert abs(b["metadata_pages"] - q["metadata_pages"]) <= 2
        assert abs(b["peak_pages"] - q["peak_pages"]) <= 2
        # the churn holds ~64 areas: counted as the run's, the overhead was thousands of %
        assert b["overhead_pct"] < q["overhead_pct"] + 20, b["policy"]


def test_the_recorder_refuses_to_describe_an_address_space_changed_behind_it() -> None:
    k = Kernel()
    rec = study._Recorder(k, 8)
    rec.capture()                                         # no event yet: nothing to measure
    a = Vmalloc(k)
    a.observer = rec.observer("v0", lambda: 0)
    p = a.realloc(None, Layout(4096, 8), Layout(0, 8))      # one event, then its snapshot
    rec.capture()
    assert rec._snaps[rec._FRAG:rec._FRAG + 3] == list(rec.fragmentation())
    q = k.vmalloc(4096)                                    # outside any event
    with pytest.raises(AssertionError, match="^the address space changed outside an event$"):
        rec.capture()
    k.vfree(q)
    a.observer = None
    a.free(p, Layout(4096, 8))


def test_sweep_with_several_vectors_equals_direct_runs() -> None:
    points = [100, 1000, 3000]
    run = run_growth(RunSpec("vmalloc", "rust_kvec", LATEST, elements=3000, vectors=3,
                             churn="fix_size_alloc_test", seed=5), points=points)
    for swept, n in zip(sweep_rows(run, points), points):
        direct = run_growth(RunSpec("vmalloc", "rust_kvec", LATEST, elements=n, vectors=3,
                                    churn="fix_size_alloc_test", seed=5)).row()
        assert swept == direct, n


def test_fragmentation_is_measured_where_rows_are_made_and_only_there() -> None:
    # after every event it would cost O(areas): a busy address space made every event slow
    data = ROOT / "tests" / "data" / "vmallocinfo-linux-6.18.txt"
    spec = RunSpec("vmalloc", "exact", LATEST, elements=1500, vectors=2,
                   churn="random_size_alloc_test", background=str(data))
    calls = []

    def counted(k: Kernel) -> dict[str, int]:
        calls.append(k)
        return fragmentation(k)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study, "fragmentation", counted)
        run = run_growth(spec, points=[10, 1000, 1000, 1500])
    assert len(run) == 3000 and len(calls) <= 4           # the base, 10, 1000 and the end
    measured = [i for i in range(len(run)) if run.snap(i)[study._Recorder._FRAG] >= 0]
    assert len(measured) <= 3 and measured[-1] == len(run) - 1
    rows = sweep_rows(run, [10, 1000, 1500])
    assert rows[-1] == run.row() and rows[-1]["free_areas"] > 1
    # a point the run was not asked to measure is refused, not made up
    with pytest.raises(ValueError, match="^the run did not measure its address space at 1200 "
                                         r"elements: pass them to run_growth\(spec, points=\.\.\.\)$"):
        sweep_rows(run, [1200])


def test_a_busy_address_space_from_a_real_vmallocinfo() -> None:
    data = ROOT / "tests" / "data" / "vmallocinfo-linux-6.18.txt"
    quiet = growth_study(5000, allocs=["vmalloc"], policies=["rust_kvec"])[0][0]
    busy = growth_study(5000, allocs=["vmalloc"], policies=["rust_kvec"],
                        background=str(data))[0][0]
    assert busy["background"] == str(data)
    assert busy["va_span_bytes"] > quiet["va_span_bytes"] + (18 << 20)   # 221 busy areas below
    assert busy["lazy_va_bytes"] >= 3031 * 16384                         # the unpurged stacks
    assert (busy["reallocs"], busy["bytes_copied"]) == (quiet["reallocs"], quiet["bytes_copied"])


def test_profiles_lists_every_commit_with_alias_and_kind(capsys: pytest.CaptureFixture[str]) -> None:
    from kvalloc import VREALLOC_HISTORY
    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "name", "alias", "kernel", "kind", "what", "it", "does"]
    kernel, whatifs = lines[1:10], lines[12:]
    assert [line.split()[1] for line in kernel] == list(VREALLOC_HISTORY)
    assert all(line[39:47] == "kernel  " for line in kernel)
    assert kernel[-1].split()[:5] == ["9", "e64f42036ef4", "latest", "2026", "kernel"]
    assert lines[11].startswith("What-ifs: changes no kernel commit has made")
    assert [line.split()[:4] for line in whatifs] == [
        [name, "on", "latest", "what-if"]
        for name in ("grow-into-va", "vremap", "refill-tail", "keep-huge")]


def test_kernel_warnings_go_to_the_runs_log_not_to_python(tmp_path: pathlib.Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          recwarn: pytest.WarningsRecorder) -> None:
    log = tmp_path / "dmesg.txt"
    assert main(["study", "growth", "--elements", "600000", "--alloc", "kmalloc", "--policy",
                 "rust_kvec", "--dmesg", str(log)]) == 0
    out = capsys.readouterr().out
    assert not [w for w in recwarn if issubclass(w.category, Warning)]
    text = log.read_text()
    assert text.startswith("== kmalloc rust_kvec latest\n") and "WARNING" in text
    assert f"(written to {log})" in out.splitlines()[-1]
    assert "* refused before N: kmalloc/rust_kvec at len 524288" in out


def test_ctrl_c_stops_cleanly_with_130_and_keeps_finished_rows(tmp_path: pathlib.Path) -> None:
    import signal
    import subprocess
    import sys
    out = tmp_path / "rows.json"
    p = subprocess.Popen([sys.executable, "-m", "kvalloc", "study", "growth", "--elements",
                          "300000", "--alloc", "vmalloc,moveonly", "--policy", "rust_kvec,exact",
                          "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=default_sigint)
    assert p.stdout is not None
    lines = [p.stdout.readline() for _ in range(3)]         # the header and the first row
    assert lines[2].startswith("vmalloc   rust_kvec")
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130
    assert stderr.endswith("configurations finished and kept\n")
    rows = json.loads(out.read_text())
    assert 1 <= len(rows) < 4 and rows[0]["policy"] == "rust_kvec"


def test_the_readme_shows_the_default_table_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```text\n", 1)[1].split("```", 1)[0]
    rows, _ = growth_study()
    assert block == format_growth(rows)


@pytest.mark.parametrize("workload, expect", [
    ("burst", {"kvmalloc": (28, 13), "vmalloc": (28, 13)}),
    ("sawtooth", {"kvmalloc": (15, 0), "vmalloc": (15, 9)}),
    ("random", {"kvmalloc": (46, 41), "vmalloc": (46, 26)}),
])
def test_the_readme_workload_table(workload: str, expect: dict[str, tuple[int, int]]) -> None:
    rows, _ = growth_study(20_000, allocs=list(expect), policies=["rust_kvec"], workload=workload)
    assert {r["alloc"]: (r["reallocs"], r["in_place"]) for r in rows} == expect
    if workload == "burst":
        km, vm = rows
        assert round(vm["bytes_copied"] / km["bytes_copied"], 1) == 2.6


def test_released_runs_keep_their_rows_and_log_and_refuse_their_events() -> None:
    kept, runs = growth_study(2000, allocs=["kmalloc", "vmalloc"], policies=["exact"],
                              profiles=["latest", "v6.12"])
    rows, light = growth_study(2000, allocs=["kmalloc", "vmalloc"], policies=["exact"],
                               profiles=["latest", "v6.12"], keep_events=False)
    assert rows == kept
    assert [r.dmesg for r in light] == [r.dmesg for r in runs]
    assert all(r.released and len(r) == 0 for r in light)
    with pytest.raises(ValueError, match=r"^this run's events were released "
                                         r"\(growth_study\(keep_events=False\)\)$"):
        light[0].row()
    with pytest.raises(ValueError, match="released"):
        _ = light[1].events
