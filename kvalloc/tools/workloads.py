"""Small named workloads for ``kvalloc vmallocinfo --workload NAME``.

Each takes a :class:`Kernel` and leaves it in an interesting state.

>>> from kvalloc import Kernel
>>> k = Kernel(); demo(k)
>>> k.stats().vmap_areas        # four areas plus the two vmalloc'd page arrays
6
"""

from __future__ import annotations

from collections.abc import Callable

from ..gfp import GFP
from ..kernel import Kernel


def demo(k: Kernel) -> None:
    """A few areas of different kinds, one freed lazily, and a kmalloc or two."""
    k.vmalloc(5001)
    freed = k.vmalloc(64 << 10)
    k.vzalloc(3 * 4096, caller="my_driver_probe")
    k.vmalloc_huge(4 << 20)
    k.vmalloc(600 * 4096)                 # its page array is itself vmalloc'd: " vpages"
    assert freed is not None
    k.vfree(freed)                        # stays as an "unpurged vm_area" until a purge
    k.kmalloc(100)
    k.kmalloc(64 << 10, GFP.KERNEL)


def fragment(k: Kernel) -> None:
    """Every other one-page area freed and purged: a fragmented KVA space."""
    ptrs = [k.vmalloc(4096) for _ in range(64)]
    for p in ptrs[::2]:
        k.vfree(p)
    k.vm_unmap_aliases()


WORKLOADS: dict[str, Callable[[Kernel], None]] = {"demo": demo, "fragment": fragment}
