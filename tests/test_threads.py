"""A Kernel used from several threads at once stays consistent."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest

from kvalloc import Kernel, KernelConfig
from kvalloc.kernel import _locked
from kvalloc.mm.machine import Machine


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



def test_every_locked_method_keeps_its_signature() -> None:
    """The lock wrappers are generated from each method's own parameter list: the same
    signature, docs and names, and a call that does not fit is refused as the method
    itself refuses it."""
    locked = [name for name, fn in vars(Kernel).items()
              if callable(fn) and getattr(fn, "__wrapped__", None) is not None]
    assert {"vmalloc", "vfree", "krealloc", "kvrealloc", "memcpy", "check"} <= set(locked)
    for name in locked:
        fn = vars(Kernel)[name]
        assert str(inspect.signature(fn)) == str(inspect.signature(fn.__wrapped__)), name
        assert fn.__doc__ == fn.__wrapped__.__doc__
        assert (fn.__name__, fn.__qualname__) == (name, f"Kernel.{name}")
    k = Kernel()
    p = k.vmalloc(4096, align=1, caller="t")
    assert p is not None and k.find_vm_area(p).caller == "t"  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="takes from 2 to 3 positional arguments but 4"):
        k.vmalloc(4096, 0xCC0, 1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'alignment'"):
        k.vmalloc(4096, alignment=1)  # type: ignore[call-arg]
    k.vfree(p)
    k.check()


def test_the_generated_wrapper_forwards_every_kind_of_parameter_under_the_lock() -> None:
    seen: list[tuple[Any, ...]] = []

    class Fake:
        def __init__(self) -> None:
            self.machine = Machine(KernelConfig(ram=4 << 20))

        def m(self, a: int, /, b: int, c: int = 3, *rest: int, d: int, e: int = 5,
              **more: int) -> int:
            seen.append((a, b, c, rest, d, e, more,
                         self.machine.lock._is_owned()))  # type: ignore[attr-defined]
            return a + b

    wrapped = _locked(Fake.m)  # type: ignore[arg-type]
    f = Fake()
    assert wrapped(f, 1, 2, d=4) == 3  # type: ignore[arg-type]
    wrapped(f, 1, 2, 7, 8, 9, d=4, e=6, x=10)  # type: ignore[arg-type]
    assert seen == [(1, 2, 3, (), 4, 5, {}, True), (1, 2, 7, (8, 9), 4, 6, {"x": 10}, True)]
    assert not f.machine.lock._is_owned()  # type: ignore[attr-defined]
    assert str(inspect.signature(wrapped)) == str(inspect.signature(Fake.m))
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'a'"):
        wrapped(f, a=1, b=2, d=4)  # type: ignore[arg-type, call-arg]
