"""``growth_study(jobs=...)``: runs in worker processes give exactly the results of one process."""

from __future__ import annotations

import io
import multiprocessing
import pathlib
import threading
from typing import Any

import pytest

import kvalloc
from kvalloc.tools import study
from kvalloc.tools.cli import main
from kvalloc.tools.study import Run, growth_study, write_events

from ..helpers import default_sigint


def _events(runs: list[Run]) -> str:
    out = io.StringIO()
    write_events(runs, out)
    return out.getvalue()


def _study(**kw: Any) -> tuple[list[dict[str, Any]], list[Run]]:
    idea = kvalloc.vrealloc_profile("latest", name="jobs-test-idea", grow_pages="extend_va")
    return growth_study(3000, allocs=["kmalloc", "vmalloc", "kvmalloc"],
                        policies=["rust_kvec", "exact"], profiles=["latest", "v6.12", idea],
                        **kw)


@pytest.mark.parametrize("threads", [False, True], ids=["start-as-chosen", "forkserver"])
def test_workers_give_the_rows_events_and_logs_of_one_process(
        threads: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if threads:        # another thread alive: the workers come from a fresh fork server
        monkeypatch.setattr(threading, "active_count", lambda: 2)
    rows, runs = _study()
    seen: list[tuple[str, str, str]] = []
    progress: list[tuple[int, int]] = []
    rows2, runs2 = _study(jobs=2, on_rows=lambda r, run: seen.append(
        (run.spec.alloc, run.spec.policy, run.spec.profile)),
        progress=lambda done, total, label: progress.append((done, total)))
    assert rows2 == rows and len(rows) == 3 * 3 * 2
    assert [r.spec for r in runs2] == [r.spec for r in runs]
    assert seen == [(r.spec.alloc, r.spec.policy, r.spec.profile) for r in runs]
    assert progress == [(i, 18) for i in range(19)]
    assert _events(runs2) == _events(runs)
    assert [r.dmesg for r in runs2] == [r.dmesg for r in runs]
    assert len({r["profile"] for r in rows2}) == 3 and rows2[-1]["profile"] == "jobs-test-idea"


def test_workers_with_a_sweep_and_released_events() -> None:
    kw: dict[str, Any] = dict(allocs=["kmalloc", "vmalloc"], policies=["exact", "factor_1_5"],
                              profiles=["latest", "v6.12"], sweep=[500, 1000, 2000])
    rows, _ = growth_study(2000, **kw)
    rows2, light = growth_study(2000, keep_events=False, jobs=2, **kw)
    assert rows2 == rows and len(rows) == 2 * 2 * 2 * 3
    assert all(r.released and len(r) == 0 for r in light)


def test_a_failing_run_raises_as_in_one_process_and_stops_the_workers(tmp_path: pathlib.Path
                                                                      ) -> None:
    missing = str(tmp_path / "no-such-vmallocinfo")
    for jobs in (1, 2):
        with pytest.raises(FileNotFoundError):
            growth_study(1000, allocs=["vmalloc"], policies=["rust_kvec", "exact"],
                         background=missing, jobs=jobs)
    assert not [p for p in multiprocessing.active_children()
                if p.name.startswith(("ForkPoolWorker", "ForkServerPoolWorker",
                                      "SpawnPoolWorker"))]


def test_stopping_the_workers_does_not_wait_for_ever_on_a_stuck_terminate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Pool.terminate() can block for ever (cpython#96995); close() gives it a bounded wait
    monkeypatch.setattr(study, "_TERMINATE_WAIT", 0.01)
    release = threading.Event()
    called = threading.Event()

    class StuckPool:
        def terminate(self) -> None:
            called.set()
            release.wait()

    def never(i: int) -> study._Result:
        raise AssertionError("no result is asked for")

    results = study._Results(never, StuckPool())
    results.close()
    stuck = [t for t in threading.enumerate() if t.name == "kvalloc-study-pool-terminate"]
    assert called.is_set() and stuck and all(t.daemon and t.is_alive() for t in stuck)
    release.set()
    for t in stuck:
        t.join()
    results.close()                                  # closing twice does nothing


def test_jobs_is_validated_and_bounded_by_the_runs() -> None:
    with pytest.raises(TypeError, match=r"^jobs must be an int, not str$"):
        growth_study(10, jobs="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^--jobs must be >= 0 \(0: one per CPU\), got -1$"):
        growth_study(10, jobs=-1)
    assert study._jobs(8, 3) == 3 and study._jobs(1, 12) == 1 and study._jobs(5, 0) == 1
    assert 1 <= study._jobs(0, 100) <= 100


def test_cli_jobs_prints_the_same_table(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["study", "growth", "--elements", "2000", "--quiet", "--policy", "rust_kvec,exact"]
    assert main(args + ["--jobs", "1"]) == 0
    one = capsys.readouterr().out
    assert main(args + ["--jobs", "2"]) == 0
    assert capsys.readouterr().out == one
    with pytest.raises(SystemExit) as e:
        main(args + ["--jobs", "-3"])
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""                     # no table header before the error
    assert err == "kvalloc: error: --jobs must be >= 0 (0: one per CPU), got -3\n"


def test_ctrl_c_at_a_terminal_stops_the_workers_quietly(tmp_path: pathlib.Path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys
    out = tmp_path / "rows.json"
    # a session of its own: the signal goes to the whole process group, as a terminal's does
    p = subprocess.Popen([sys.executable, "-m", "kvalloc", "study", "growth", "--elements",
                          "300000", "--alloc", "vmalloc,kvmalloc", "--policy", "rust_kvec,exact",
                          "--jobs", "2", "--json", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=default_sigint)
    assert p.stdout is not None
    lines = [p.stdout.readline() for _ in range(3)]         # the header and the first row
    assert lines[2].startswith("vmalloc   rust_kvec")
    os.killpg(p.pid, signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.endswith("configurations finished and kept\n")
    rows = json.loads(out.read_text())
    assert 1 <= len(rows) < 4 and rows[0]["policy"] == "rust_kvec"
