"""A Kernel used from several threads at once stays consistent."""

from __future__ import annotations

import threading

from kvalloc import Kernel, KernelConfig


def test_concurrent_allocations_stay_consistent() -> None:
    k = Kernel(KernelConfig(ram=256 << 20, lazy_max_pages=512))
    errors: list[BaseException] = []

    def worker(tid: int) -> None:
        try:
            for i in range(150):
                size = 4096 * (1 + (i + tid) % 7)
                p = k.vmalloc(size)
                o = k.kmalloc(16 + (i * 37 + tid) % 3000)
                assert p is not None and o is not None
                tag = bytes([tid]) * 64
                k.write(p + size - 64, tag)
                k.write(o, tag[:16])
                assert k.read(p + size - 64, 64) == tag
                assert k.read(o, 16) == tag[:16]
                k.vfree(p)
                k.kfree(o)
        except BaseException as e:          # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    k.vm_unmap_aliases()
    k.check()
    s = k.stats()
    assert (s.vmap_areas, s.nr_vmalloc_pages, s.slab_pages) == (0, 0, 0)
    assert s.free_pages == s.total_pages
