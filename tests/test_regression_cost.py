"""The cost model on the f7a35a3c36d1 regression (docs/cost_model.md#the-f7a35a3c36d1-regression-priced).

``kernel/bpf/verifier.c: push_insn_history()`` grows ``env->insn_hist`` by one 16-byte entry
per call with ``kvrealloc(.., GFP_USER)``. Under a0309faf1cb0 every grow of a vmalloc'd
history moves and copies it (``vrealloc_node_align_noprof()`` falls through its in-place
branch); f7a35a3c36d1 grows it in place. kmalloc is made to fail from order 4 (as on a
fragmented machine) so the vmalloc phase starts at 32 KiB instead of 4 MiB and the runs stay
short; the shape is the same.
"""

from __future__ import annotations

from kvalloc import GFP, CostModel, Kernel, KernelConfig


def _insn_hist_ns(profile: str, entries: int) -> float:
    k = Kernel(KernelConfig(vrealloc=profile))
    k.fault.fail_page_alloc(probability=1.0, min_order=4)
    before = k.work()
    p = None
    for i in range(1, entries + 1):
        p = k.kvrealloc(p, 16 * i, GFP.USER)
        assert p
    k.check()
    return CostModel.default().estimate_ns(k.work() - before)


def test_the_regression_costs_quadratic_time_and_the_fix_linear() -> None:
    bug = {n: _insn_hist_ns("a0309faf1cb0", n) for n in (4000, 8000)}
    fix = {n: _insn_hist_ns("f7a35a3c36d1", n) for n in (4000, 8000)}
    # doubling the history quadruples the bug's time (every push copies the whole history)
    assert 3.5 < bug[8000] / bug[4000] < 5.5
    # the fix grows in place: about twice the time for twice the pushes
    assert 1.5 < fix[8000] / fix[4000] < 3.0
    # the slowdown itself grows with the history: seconds become minutes for long programs
    assert bug[4000] / fix[4000] > 40
    assert bug[8000] / fix[8000] > 1.8 * bug[4000] / fix[4000]
