"""``/proc/vmallocinfo``, ``/proc/meminfo`` and ``/proc/buddyinfo`` (docs/mm.md#proc-files)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..constants import (
    NR_PAGE_ORDERS,
    VMALLOC_TOTAL,
    VMAP_RAM,
    is_vmalloc_addr,
)
from ..vm_flags import V

if TYPE_CHECKING:
    from .machine import Machine

_M64 = (1 << 64) - 1
_ITEMS = ((V.IOREMAP, " ioremap"), (V.SPARSE, " sparse"), (V.ALLOC, " vmalloc"),
          (V.MAP, " vmap"), (V.USERMAP, " user"), (V.DMA_COHERENT, " dma-coherent"))


def _range(start: int, end: int, size: int) -> str:
    return f"0x{start & _M64:016x}-0x{end & _M64:016x} {size:7d}"


def vmallocinfo(k: Machine) -> str:
    """Busy areas, then lazily freed ones, node by node, each node's in address order
    (``vmalloc_info_show``, ``show_purge_info``: one node without vmap nodes)."""
    lines: list[str] = []
    untag = k.untag
    kva = k.kva
    busy = list(kva.busy)
    lazy = list(kva.lazy)
    if kva.nr_nodes > 1:                          # stable sorts: address order inside a node
        busy.sort(key=lambda va: kva.addr_to_node(va.va_start))
        lazy.sort(key=kva.lazy_node)
    for va in busy:
        vm = va.vm
        if vm is None:
            if va.flags & VMAP_RAM:
                lines.append(_range(va.va_start, va.va_end, va.va_end - va.va_start) + " vm_map_ram")
            continue
        if vm.flags & V.UNINITIALIZED:
            continue
        parts = [_range(vm.addr, vm.addr + vm.size, vm.size)]
        if vm.caller:
            parts.append(f" {vm.caller}")
        if vm.nr_pages:
            parts.append(f" pages={vm.nr_pages}")
        parts.extend(text for flag, text in _ITEMS if vm.flags & flag)
        if vm.pages_addr and is_vmalloc_addr(untag(vm.pages_addr)):
            parts.append(" vpages")
        if vm.nr_pages:
            step = 1 << vm.page_order
            parts.append(f" N0={-(-vm.nr_pages // step) * step}")
        lines.append("".join(parts))
    for va in lazy:
        lines.append(_range(va.va_start, va.va_end, va.va_end - va.va_start) + " unpurged vm_area")
    return "".join(line + "\n" for line in lines)


def meminfo(k: Machine) -> str:
    """MemTotal, MemFree, VmallocTotal, VmallocUsed, VmallocChunk, in kB."""
    rows = (("MemTotal:", k.mem.nr_frames * 4), ("MemFree:", k.mem.nr_free * 4),
            ("VmallocTotal:", VMALLOC_TOTAL >> 10), ("VmallocUsed:", k.mem.nr_vmalloc * 4),
            ("VmallocChunk:", 0))
    return "".join(f"{label:<16}{value:>8} kB\n" for label, value in rows)


def buddyinfo(k: Machine) -> str:
    """One line for node 0, zone Normal: free blocks per order."""
    counts = "".join(f"{k.mem.nr_free_blocks(order):6d} " for order in range(NR_PAGE_ORDERS))
    return f"Node 0, zone {'Normal':>8} {counts}\n"
