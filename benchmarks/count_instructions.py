"""Instructions per operation, counted by callgrind: a repeatable A/B measure on a noisy host.

Timings on a shared machine move by 10-50 % from run to run; valgrind's instruction count for
the same code and inputs moves by under 0.1 %. This script runs ``N`` operations of one kind;
``count`` runs it twice under ``valgrind --tool=callgrind`` (``N1`` and ``N2`` operations)
and prints the difference per operation, so start-up and set-up cancel out::

    python benchmarks/count_instructions.py count pair       # vmalloc(4096)+vfree, 100 live
    python benchmarks/count_instructions.py count peer       # the same on MiniVmalloc

Compare two trees by running it in each. Instructions are not time (a run that misses the
caches more takes longer per instruction), but a change that removes instructions from a
path nearly always makes it faster, and the count says by how much without noise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable

from kvalloc.constants import PAGE_SIZE, VMALLOC_START
from kvalloc.tools.bench import MiniVmalloc, _VmallocLoops


def _pair() -> Callable[[int], None]:
    loops = _VmallocLoops(100, 500)                 # 100 live areas, at the lazy steady state
    vmalloc, vfree = loops.k.vmalloc, loops.k.vfree

    def run(n: int) -> None:
        for _ in range(n):
            vfree(vmalloc(PAGE_SIZE))
    return run


def _peer() -> Callable[[int], None]:
    m = MiniVmalloc(VMALLOC_START, VMALLOC_START + (1 << 40), 1 << 20)
    for _ in range(100):
        m.vmalloc(PAGE_SIZE)

    def run(n: int) -> None:
        for _ in range(n):
            m.vfree(m.vmalloc(PAGE_SIZE))  # type: ignore[arg-type]
    return run


WORKLOADS: dict[str, Callable[[], Callable[[int], None]]] = {"pair": _pair, "peer": _peer}


def _collected(workload: str, n: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, __file__, "run", workload, str(n)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no callgrind total in:\n{out.stderr}")
    return int(found.group(1))


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in ("run", "count") or argv[1] not in WORKLOADS:
        raise SystemExit(f"usage: count_instructions.py count|run {'|'.join(WORKLOADS)} [N1 N2 | N]")
    if argv[0] == "run":
        WORKLOADS[argv[1]]()(int(argv[2]))
        return
    n1, n2 = (int(argv[2]), int(argv[3])) if len(argv) > 3 else (1000, 3000)
    per_op = (_collected(argv[1], n2) - _collected(argv[1], n1)) // (n2 - n1)
    print(f"{argv[1]}: {per_op} instructions per operation")


if __name__ == "__main__":
    main(sys.argv[1:])
