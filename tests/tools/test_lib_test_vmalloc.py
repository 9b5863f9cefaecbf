"""The test_vmalloc port (kvalloc.tools.lib_test_vmalloc): vrealloc_test, test-vmalloc."""

from __future__ import annotations

import re

import pytest

from kvalloc import VREALLOC_HISTORY, Kernel, KernelConfig
from kvalloc.tools.cli import main
from kvalloc.tools.lib_test_vmalloc import run_test_vmalloc

from ..helpers import quiet


def test_test_vmalloc_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-vmalloc", "--run-test-mask", "4097", "--test-loop-count", "3",
                 "--nr-threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    # the command times the simulation on the host: avg in microseconds (two decimals below 1),
    # "cycles" in host nanoseconds
    avg = r"avg: (0\.[0-9][0-9]|[1-9][0-9]*) usec"
    assert re.fullmatch(r"Summary: fix_size_alloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 "
                        r"loops: 3 " + avg, out[-3])
    assert re.fullmatch(r"Summary: vrealloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 "
                        r"loops: 3 " + avg, out[-2])
    took = re.fullmatch(r"All test took worker0=([0-9]+) cycles", out[-1])
    assert took is not None and int(took.group(1)) > 0


def test_test_vmalloc_without_a_clock_prints_zero_times() -> None:
    k = Kernel()
    results = run_test_vmalloc(k, run_test_mask=1, test_loop_count=3)
    assert results[0].avg_us == 0.0
    assert k.dmesg[-2:] == [
        "Summary: fix_size_alloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 3 avg: 0 usec",
        "All test took worker0=0 cycles"]


def test_test_vmalloc_estimate_scales_a_sample_and_leaves_the_kernel_alone() -> None:
    from kvalloc.tools.lib_test_vmalloc import estimate_seconds
    k = Kernel()
    before = (k.stats(), list(k.dmesg))
    readings = iter([0.0, 3.0, 10.0, 14.0, 0.0, 1.0])

    def clock() -> float:              # 100 loops take 3 s and 200 loops 4 s: 2 s of setup
        return next(readings)
    assert estimate_seconds(k, run_test_mask=1, test_loop_count=100_000, sample=100,
                            clock=clock) == 2.0 + 100_000 * 0.01
    # few loops: one run of each test with all of them, times the workers and the repeats
    readings = iter([0.0, 1.0, 5.0, 6.0])
    assert estimate_seconds(k, run_test_mask=3, nr_threads=2, test_repeat_count=3,
                            test_loop_count=50, sample=100, clock=clock) == 2.0 * 2 * 3
    assert (k.stats(), list(k.dmesg)) == before


def test_usec_format() -> None:
    from kvalloc.tools.lib_test_vmalloc import _usec
    assert [_usec(x) for x in (0.0, 0.004, 0.426, 1.4, 1234.6)] == ["0", "0.00", "0.43", "1", "1235"]


@pytest.mark.parametrize("kasan", ["off", "generic", "sw_tags"])
def test_vrealloc_test_workload_passes_on_latest(kasan: str) -> None:
    k = Kernel(KernelConfig(kasan=kasan))  # type: ignore[arg-type]
    k.trace.enable("vrealloc")
    results = run_test_vmalloc(k, run_test_mask=4096, test_loop_count=50)
    assert [(r.name, r.passed, r.failed) for r in results] == [("vrealloc_test", 1, 0)]
    outcomes = [e.fields["outcome"] for e in k.trace.events]
    # NULL -> moved; 4 pages -> moved; 1 page -> shrink (frees 3); half -> shrink; 1 page -> in place
    assert outcomes[:5] == ["moved", "moved", "shrink", "shrink", "grow_in_place"]
    assert k.stats().vrealloc_pages_freed == 3 * 50
    assert k.kasan_reports == []
    k.check()


@pytest.mark.parametrize("profile", VREALLOC_HISTORY[:8])
def test_vrealloc_test_workload_on_older_profiles(profile: str) -> None:
    k = Kernel(KernelConfig(vrealloc=profile))
    with quiet():
        results = run_test_vmalloc(k, run_test_mask=4096, test_loop_count=20)
    assert results[0].passed == 1
    assert k.stats().vrealloc_pages_freed == 0
    k.check()


def test_test_vmalloc_command_runs_one_worker_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    # lib/test_vmalloc.c: init_test_configurtion() clamps nr_threads (default 0) to [1, USHRT_MAX]
    assert main(["test-vmalloc", "--run-test-mask", "1", "--test-loop-count", "2",
                 "--cpus", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" cycles")[0].split("=")[0] for line in out if "cycles" in line] == [
        "All test took worker0"]


def test_each_test_stores_what_lib_test_vmalloc_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    # lib/test_vmalloc.c: fix_size_alloc_test stores 0, random_size_alloc_test and
    # full_fit_alloc_test store 1, long_busy_list_alloc_test 0 then 1, the kvfree_rcu tests 'a'
    from kvalloc.tools import lib_test_vmalloc as tv
    seen: dict[str, set[int]] = {}
    real = tv._Ctx.store

    def store(self: tv._Ctx, addr: int, value: int) -> None:
        seen.setdefault(self.name, set()).add(value)
        real(self, addr, value)
    monkeypatch.setattr(tv._Ctx, "store", store)
    run_test_vmalloc(Kernel(), run_test_mask=1 | 2 | 4 | 8 | 256, test_loop_count=3,
                     sequential_test_order=True)
    assert seen == {"fix_size_alloc_test": {0}, "full_fit_alloc_test": {1},
                    "long_busy_list_alloc_test": {0, 1}, "random_size_alloc_test": {1},
                    "kvfree_rcu_1_arg_vmalloc_test": {ord("a")}}


def test_test_vmalloc_help_names_every_test_id_and_parameter(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["test-vmalloc", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())          # argparse wraps at any space
    assert "1 fix_size_alloc_test, 2 full_fit_alloc_test, 4 long_busy_list_alloc_test" in text
    assert "128 pcpu_alloc_test (skipped)" in text and "4096 vrealloc_test" in text
    for param in ("run_test_mask", "test_loop_count", "test_repeat_count", "nr_pages",
                  "use_huge", "sequential_test_order", "nr_threads"):
        assert f"({param}" in text or f"module's {param}" in text, param
