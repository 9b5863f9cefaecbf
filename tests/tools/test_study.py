"""The growth and shrink studies (kvalloc.tools.study), run from the command line."""

from __future__ import annotations

import csv
import json
import pathlib

import pytest

from kvalloc.tools.cli import main


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
    # caps 1..512 of u64 fit in one page (in place), 1024 needs a second page (a move); the
    # first allocation is counted apart, as fresh
    assert (vm["fresh"], vm["reallocs"], vm["in_place"], vm["moved"], vm["capacity"]) == (
        1, 10, 9, 1, 1024)
    base = next(r for r in rows if r["alloc"] == "moveonly" and r["policy"] == "rust_kvec"
                and r["profile"] == "e64f42036ef4")
    assert base["in_place"] == 0 and base["moved"] == 10
    assert "alloc" in capsys.readouterr().out


def test_study_growth_records_kmalloc_limit() -> None:
    from kvalloc.tools.study import growth_study

    from ..helpers import quiet
    with quiet():
        rows, _ = growth_study(elements=600_000, allocs=["kmalloc"], policies=["rust_kvec"])
    # 524288 u64 = 4 MiB is the last KVec capacity kmalloc can give; the row keeps the N asked
    assert rows[0]["status"] == "AllocError at len 524288"
    assert (rows[0]["elements"], rows[0]["len"], rows[0]["failed_at"], rows[0]["failed"]) == (
        600_000, 524288, 524288, 1)


def test_study_shrink(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "shrink", "--from", "256K", "--to", "16K",
                 "--profile", "latest,v6.15"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:8] == ["e64f42036ef4", "262144", "16384", "True", "64", "4", "60",
                                    "256"]
    assert lines[2].split()[5:7] == ["64", "0"]
