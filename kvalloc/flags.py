"""GFP constants in the Rust-for-Linux spelling (``kernel::alloc::flags``).

>>> from kvalloc.flags import GFP_KERNEL, __GFP_ZERO
>>> hex(GFP_KERNEL | __GFP_ZERO)
'0xdc0'
"""

from __future__ import annotations

from typing import Final

from .gfp import GFP

GFP_KERNEL: Final = GFP.KERNEL
GFP_KERNEL_ACCOUNT: Final = GFP.KERNEL_ACCOUNT
GFP_ATOMIC: Final = GFP.ATOMIC
GFP_NOWAIT: Final = GFP.NOWAIT
GFP_NOFS: Final = GFP.NOFS
GFP_NOIO: Final = GFP.NOIO
__GFP_ZERO: Final = GFP.ZERO
__GFP_NOWARN: Final = GFP.NOWARN
__GFP_HIGHMEM: Final = GFP.HIGHMEM
__GFP_ACCOUNT: Final = GFP.ACCOUNT
__GFP_NOFAIL: Final = GFP.NOFAIL
__GFP_NORETRY: Final = GFP.NORETRY
__GFP_THISNODE: Final = GFP.THISNODE

__all__ = [
    "GFP_KERNEL", "GFP_KERNEL_ACCOUNT", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_NOFS", "GFP_NOIO",
    "__GFP_ZERO", "__GFP_NOWARN", "__GFP_HIGHMEM", "__GFP_ACCOUNT", "__GFP_NOFAIL",
    "__GFP_NORETRY", "__GFP_THISNODE",
]
