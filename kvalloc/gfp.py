"""GFP flags (include/linux/gfp_types.h) and their ``%pGg`` rendering.

Examples:
    >>> int(GFP.KERNEL)
    3264
    >>> format_gfp(GFP.KERNEL | GFP.ZERO)
    'GFP_KERNEL|__GFP_ZERO'
"""

from __future__ import annotations

import enum
from typing import Final


class GFP(enum.IntFlag):
    """Get-free-page flags with the kernel's bit values; names drop the underscores."""

    DMA = 0x01
    HIGHMEM = 0x02
    DMA32 = 0x04
    MOVABLE = 0x08
    RECLAIMABLE = 0x10
    HIGH = 0x20
    IO = 0x40
    FS = 0x80
    ZERO = 0x100
    DIRECT_RECLAIM = 0x400
    KSWAPD_RECLAIM = 0x800
    WRITE = 0x1000
    NOWARN = 0x2000
    RETRY_MAYFAIL = 0x4000
    NOFAIL = 0x8000
    NORETRY = 0x10000
    MEMALLOC = 0x20000
    COMP = 0x40000
    NOMEMALLOC = 0x80000
    HARDWALL = 0x100000
    THISNODE = 0x200000
    ACCOUNT = 0x400000
    ZEROTAGS = 0x800000
    # composites
    RECLAIM = DIRECT_RECLAIM | KSWAPD_RECLAIM
    KERNEL = RECLAIM | IO | FS
    KERNEL_ACCOUNT = KERNEL | ACCOUNT
    ATOMIC = HIGH | KSWAPD_RECLAIM
    NOWAIT = KSWAPD_RECLAIM | NOWARN
    NOIO = RECLAIM
    NOFS = RECLAIM | IO
    USER = KERNEL | HARDWALL
    HIGHUSER = USER | HIGHMEM
    HIGHUSER_MOVABLE = HIGHUSER | MOVABLE
    TRANSHUGE_LIGHT = (HIGHUSER_MOVABLE | COMP | NOMEMALLOC | NOWARN) & ~RECLAIM
    TRANSHUGE = TRANSHUGE_LIGHT | DIRECT_RECLAIM
    VMALLOC32 = DMA32 | KERNEL


GFP_RECLAIM_MASK: Final = int(
    GFP.RECLAIM | GFP.HIGH | GFP.IO | GFP.FS | GFP.NOWARN | GFP.RETRY_MAYFAIL
    | GFP.NOFAIL | GFP.NORETRY | GFP.MEMALLOC | GFP.NOMEMALLOC
)
GFP_VMALLOC_SUPPORTED: Final = int(
    GFP.KERNEL | GFP.ATOMIC | GFP.NOWAIT | GFP.NOFAIL | GFP.ZERO | GFP.NORETRY
    | GFP.NOFS | GFP.NOIO | GFP.KERNEL_ACCOUNT | GFP.USER
)
GFP_ALL_BITS: Final = 0xFFFDFF

_COMPOSITES: Final = (
    ("GFP_TRANSHUGE", int(GFP.TRANSHUGE)),
    ("GFP_TRANSHUGE_LIGHT", int(GFP.TRANSHUGE_LIGHT)),
    ("GFP_HIGHUSER_MOVABLE", int(GFP.HIGHUSER_MOVABLE)),
    ("GFP_HIGHUSER", int(GFP.HIGHUSER)),
    ("GFP_USER", int(GFP.USER)),
    ("GFP_KERNEL_ACCOUNT", int(GFP.KERNEL_ACCOUNT)),
    ("GFP_KERNEL", int(GFP.KERNEL)),
    ("GFP_NOFS", int(GFP.NOFS)),
    ("GFP_ATOMIC", int(GFP.ATOMIC)),
    ("GFP_NOIO", int(GFP.NOIO)),
    ("GFP_NOWAIT", int(GFP.NOWAIT)),
    ("GFP_DMA", int(GFP.DMA)),
    ("GFP_DMA32", int(GFP.DMA32)),
    ("__GFP_RECLAIM", int(GFP.RECLAIM)),
)
_BITS: Final = tuple(
    ("__GFP_" + name, int(GFP[name]))
    for name in (
        "DMA", "HIGHMEM", "DMA32", "MOVABLE", "RECLAIMABLE", "HIGH", "IO", "FS", "ZERO",
        "DIRECT_RECLAIM", "KSWAPD_RECLAIM", "WRITE", "NOWARN", "RETRY_MAYFAIL", "NOFAIL",
        "NORETRY", "MEMALLOC", "COMP", "NOMEMALLOC", "HARDWALL", "THISNODE", "ACCOUNT",
        "ZEROTAGS",
    )
)


def format_gfp(gfp: int) -> str:
    """Render ``gfp`` as the kernel's ``%pGg`` does (docs/mm.md#printing-gfp-flags).

    >>> format_gfp(0x2820)
    'GFP_ATOMIC|__GFP_NOWARN'
    >>> format_gfp(0)
    ''
    """
    rest = int(gfp)
    parts: list[str] = []
    for name, mask in _COMPOSITES + _BITS:
        if mask and rest & mask == mask:
            parts.append(name)
            rest &= ~mask
            if not rest:
                break
    if rest:
        parts.append(f"{rest:#x}")
    return "|".join(parts)


class G:
    """The ``GFP`` bits the simulated kernel tests, as plain ints: its hot paths compute
    with ints, because ``int & IntFlag`` builds a flag object per operation (~0.5 µs
    against ~10 ns)."""

    ACCOUNT: Final = int(GFP.ACCOUNT)
    ATOMIC: Final = int(GFP.ATOMIC)
    DIRECT_RECLAIM: Final = int(GFP.DIRECT_RECLAIM)
    DMA: Final = int(GFP.DMA)
    DMA32: Final = int(GFP.DMA32)
    FS: Final = int(GFP.FS)
    HIGHMEM: Final = int(GFP.HIGHMEM)
    IO: Final = int(GFP.IO)
    KERNEL: Final = int(GFP.KERNEL)
    KERNEL_ACCOUNT: Final = int(GFP.KERNEL_ACCOUNT)
    NOFAIL: Final = int(GFP.NOFAIL)
    NORETRY: Final = int(GFP.NORETRY)
    NOWAIT: Final = int(GFP.NOWAIT)
    NOWARN: Final = int(GFP.NOWARN)
    RETRY_MAYFAIL: Final = int(GFP.RETRY_MAYFAIL)
    THISNODE: Final = int(GFP.THISNODE)
    ZERO: Final = int(GFP.ZERO)



def want_init_on_alloc(gfp: int, init_on_alloc: bool) -> bool:
    """``init_on_alloc`` boot option, or ``__GFP_ZERO`` in the request."""
    return init_on_alloc or bool(gfp & G.ZERO)


def gfpflags_allow_blocking(gfp: int) -> bool:
    """True when the request may sleep (has ``__GFP_DIRECT_RECLAIM``)."""
    return bool(gfp & G.DIRECT_RECLAIM)


def gfp_has_io_fs(gfp: int) -> bool:
    """True when both ``__GFP_IO`` and ``__GFP_FS`` are set."""
    return gfp & (G.IO | G.FS) == G.IO | G.FS
