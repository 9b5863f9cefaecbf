"""kvalloc: a deterministic simulator of the Linux kernel's vmalloc subsystem.

>>> import kvalloc
>>> k = kvalloc.Kernel()
>>> p = k.vmalloc(5001)
>>> k.find_vm_area(p).nr_pages
2
"""

from __future__ import annotations

__version__ = "0.2.0.dev0"

from . import flags
from .alloc import Allocator, Kmalloc, KVmalloc, Layout, MoveOnly, ReallocEvent, Vmalloc
from .config import VREALLOC_HISTORY, KernelConfig
from .constants import (
    KMALLOC_MAX_CACHE_SIZE,
    KMALLOC_MAX_SIZE,
    MAX_PAGE_ORDER,
    NUMA_NO_NODE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PMD_SHIFT,
    PMD_SIZE,
    VMALLOC_END,
    VMALLOC_START,
    VMAP_BLOCK_SIZE,
    VMAP_MAX_ALLOC,
    ZERO_SIZE_PTR,
)
from .cost_model import CostModel, WorkCounts
from .errors import (
    AllocError,
    KasanError,
    KasanWarning,
    KernelBug,
    KernelPanic,
    KernelWarning,
    LayoutError,
    PageFault,
)
from .gfp import GFP
from .kernel import Kernel, KernelStats, Page, VmArea, default_kernel
from .mm.access import DirectView
from .mm.trace import TraceEvent
from .profiles import (
    KERNEL_PROFILES,
    WHATIFS,
    VreallocProfile,
    register_profile,
    resolve_profile,
    vrealloc_profile,
)
from .vm_flags import VM

__all__ = [
    "__version__", "AllocError", "Allocator", "KVmalloc", "Kmalloc", "Layout", "MoveOnly",
    "ReallocEvent", "Vmalloc", "CostModel", "WorkCounts",
    "DirectView", "GFP", "KMALLOC_MAX_CACHE_SIZE", "KMALLOC_MAX_SIZE", "KasanError",
    "KasanWarning", "Kernel", "KernelBug", "KernelConfig", "KernelPanic", "KernelStats",
    "KernelWarning", "LayoutError", "MAX_PAGE_ORDER", "NUMA_NO_NODE", "PAGE_SHIFT", "PAGE_SIZE",
    "PMD_SHIFT", "PMD_SIZE", "Page", "PageFault", "TraceEvent", "VM", "VMALLOC_END",
    "VMALLOC_START", "VMAP_BLOCK_SIZE", "VMAP_MAX_ALLOC", "VREALLOC_HISTORY", "VmArea",
    "ZERO_SIZE_PTR", "default_kernel", "flags",
    "KERNEL_PROFILES", "WHATIFS", "VreallocProfile", "register_profile", "resolve_profile",
    "vrealloc_profile",
]
