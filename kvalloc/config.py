"""``KernelConfig``: the boot parameters of a simulated machine (docs/guide.md#kernelconfig)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from ._validate import require_bool, require_int, require_str
from .constants import MAX_PAGE_ORDER, PAGE_SIZE, U64_LIMIT, fls
from .profiles import VREALLOC_ALIASES, VREALLOC_HISTORY, VreallocProfile, resolve_profile

__all__ = ["VREALLOC_ALIASES", "VREALLOC_HISTORY", "KernelConfig", "vrealloc_profile_number"]

KasanMode = Literal["off", "generic", "sw_tags"]
KasanFault = Literal["report", "panic"]


def vrealloc_profile_number(name: str | VreallocProfile) -> int:
    """The 1-based position in :data:`VREALLOC_HISTORY` of a profile's (base) commit.

    >>> vrealloc_profile_number("latest"), vrealloc_profile_number("v6.15")
    (9, 5)
    """
    return resolve_profile(name).number


def _check_int(name: str, value: object, low: int, high: int = U64_LIMIT) -> None:
    require_int(f"KernelConfig.{name}", value, low, high)


def _check_bool(name: str, value: object) -> None:
    require_bool(f"KernelConfig.{name}", value)


def _check_choice(name: str, value: object, valid: tuple[str, ...]) -> None:
    require_str(f"KernelConfig.{name}", value)
    if value not in valid:
        raise ValueError(f"KernelConfig.{name} = {value!r}; valid: "
                         + ", ".join(repr(v) for v in valid))


@dataclasses.dataclass(frozen=True, kw_only=True)
class KernelConfig:
    """Boot configuration of a simulated machine; validated on construction.

    >>> KernelConfig().lazy_max
    16384
    >>> KernelConfig(cpus=8).lazy_max
    32768
    """

    ram: int = 4 << 30
    cpus: int = 2
    kasan: KasanMode = "off"
    kasan_fault: KasanFault = "report"
    #: The ``kasan_multi_shot`` boot parameter: print every KASAN report. Off (the kernel's
    #: default), only the first is printed and later bad accesses go ahead unreported
    #: (docs/kasan.md#reports); ``Kernel.kasan_reports`` keeps them all either way.
    kasan_multi_shot: bool = False
    init_on_alloc: bool = False
    init_on_free: bool = False
    huge_vmalloc: bool = True
    panic_on_warn: bool = False
    #: The vrealloc profile: a commit id or alias, a what-if's name, ``module:NAME``, or a
    #: :class:`~kvalloc.profiles.VreallocProfile` (docs/whatif.md).
    vrealloc: str | VreallocProfile = "latest"
    lazy_max_pages: int | None = None
    seed: int = 0
    #: Give the host memory behind freed runs of at least 16 MiB of frames back to the host
    #: OS (``madvise(MADV_DONTNEED)``), so a long run holds what it uses; such frames then
    #: read as zeros. False keeps every freed frame's stale contents, as a real kernel
    #: without ``init_on_free`` does (docs/mm.md#frame-contents).
    release_host_memory: bool = True

    def __post_init__(self) -> None:
        block = PAGE_SIZE << MAX_PAGE_ORDER
        _check_int("ram", self.ram, block, 1 << 50)
        if self.ram % block:
            raise ValueError(f"KernelConfig.ram = {self.ram} is not a multiple of {block} (4 MiB)")
        _check_int("cpus", self.cpus, 1, 8193)
        _check_choice("kasan", self.kasan, ("off", "generic", "sw_tags"))
        _check_choice("kasan_fault", self.kasan_fault, ("report", "panic"))
        for name in ("init_on_alloc", "init_on_free", "huge_vmalloc", "panic_on_warn",
                     "release_host_memory", "kasan_multi_shot"):
            _check_bool(name, getattr(self, name))
        if not isinstance(self.vrealloc, (str, VreallocProfile)):
            raise TypeError("KernelConfig.vrealloc must be str or VreallocProfile, not "
                            f"{type(self.vrealloc).__name__}")
        resolve_profile(self.vrealloc)
        if self.lazy_max_pages is not None:
            _check_int("lazy_max_pages", self.lazy_max_pages, 0)
        require_int("KernelConfig.seed", self.seed)

    @property
    def lazy_max(self) -> int:
        """``lazy_max_pages()``: the override, or ``fls(cpus) * 8192`` pages."""
        if self.lazy_max_pages is not None:
            return self.lazy_max_pages
        return fls(self.cpus) * 8192

    @property
    def vrealloc_profile(self) -> int:
        """The number of the profile's (base) commit, 1 (3ddc2fefe6f3) to 9 (latest)."""
        return self.profile.number

    @property
    def profile(self) -> VreallocProfile:
        """The vrealloc profile this configuration selects."""
        return resolve_profile(self.vrealloc)
