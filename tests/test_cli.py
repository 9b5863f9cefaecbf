"""The command line: every sub-command runs, writes what it says, and rejects bad input."""

from __future__ import annotations

import csv
import json
import pathlib

import pytest

from kvalloc.tools.cli import main


def test_vmallocinfo_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vmallocinfo", "--workload", "demo"]) == 0
    out = capsys.readouterr().out
    assert "0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N0=2" in out
    assert " unpurged vm_area" in out and "MemTotal:        4194304 kB" in out
    assert out.count("Node 0, zone   Normal") == 1


def test_study_growth_writes_json_and_csv(tmp_path: pathlib.Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    j, c = tmp_path / "g.json", tmp_path / "g.csv"
    assert main(["study", "growth", "--elements", "600", "--alloc", "kmalloc,vmalloc,moveonly",
                 "--policy", "rust_kvec,exact", "--profile", "latest,v6.12",
                 "--json", str(j), "--csv", str(c)]) == 0
    rows = json.loads(j.read_text())
    assert len(rows) == 12 and len(list(csv.DictReader(c.open()))) == 12
    vm = next(r for r in rows if r["alloc"] == "vmalloc" and r["policy"] == "rust_kvec"
              and r["profile"] == "e64f42036ef4")
    # caps 1..512 of u64 fit in one page (in place), 1024 needs a second page (a move)
    assert (vm["reallocs"], vm["in_place"], vm["moved"], vm["capacity"]) == (11, 9, 1, 1024)
    base = next(r for r in rows if r["alloc"] == "moveonly" and r["policy"] == "rust_kvec"
                and r["profile"] == "e64f42036ef4")
    assert base["in_place"] == 0 and base["moved"] == 10
    assert "alloc" in capsys.readouterr().out


def test_study_growth_records_kmalloc_limit() -> None:
    from kvalloc.tools.study import growth_study

    from .helpers import quiet
    with quiet():
        rows, _ = growth_study(elements=600_000, allocs=["kmalloc"], policies=["rust_kvec"])
    # 524288 u64 = 4 MiB is the last KVec capacity kmalloc can give
    assert rows[0]["status"] == "AllocError at len 524288"


def test_study_shrink(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "shrink", "--from", "256K", "--to", "16K",
                 "--profile", "latest,v6.15"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:8] == ["e64f42036ef4", "262144", "16384", "True", "64", "4", "60",
                                    "256"]
    assert lines[2].split()[5:7] == ["64", "0"]


def test_test_vmalloc_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-vmalloc", "--run-test-mask", "4097", "--test-loop-count", "3",
                 "--nr-threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == [
        "Summary: fix_size_alloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 3 avg: 0 usec",
        "Summary: vrealloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 3 avg: 0 usec",
        "All test took worker0=0 cycles"]


def test_bench_quick_writes_json(tmp_path: pathlib.Path) -> None:
    j = tmp_path / "b.json"
    assert main(["bench", "--quick", "--json", str(j)]) == 0
    doc = json.loads(j.read_text())
    assert doc["quick"] is True
    assert doc["metrics"]["lowest_match_speedup"] >= 50       # an algorithmic ratio, not timing
    assert doc["metrics"]["kvec_1m_u64_fails"] == 1.0


@pytest.mark.parametrize("argv", [
    ["study", "growth", "--alloc", "nope"], ["study", "growth", "--policy", "x"],
    ["study", "growth", "--profile", "v9"], ["study", "shrink", "--from", "1K", "--to", "2K"],
    ["study", "shrink", "--from", "abc"], ["vmallocinfo", "--workload", "x"], [],
    ["test-vmalloc", "--profile", "nope"],
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "error" in err[-1]
