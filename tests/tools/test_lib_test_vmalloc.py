"""The test_vmalloc port (kvalloc.tools.lib_test_vmalloc): vrealloc_test, test-vmalloc."""

from __future__ import annotations

import pytest

from kvalloc import VREALLOC_HISTORY, Kernel, KernelConfig
from kvalloc.tools.cli import main
from kvalloc.tools.lib_test_vmalloc import run_test_vmalloc

from ..helpers import quiet


def test_test_vmalloc_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-vmalloc", "--run-test-mask", "4097", "--test-loop-count", "3",
                 "--nr-threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-3:] == [
        "Summary: fix_size_alloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 3 avg: 0 usec",
        "Summary: vrealloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 3 avg: 0 usec",
        "All test took worker0=0 cycles"]


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
