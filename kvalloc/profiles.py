"""vrealloc profiles: the kernel's commits, and what-ifs built on them (docs/whatif.md).

A :class:`VreallocProfile` is what ``vrealloc()`` does. The nine *kernel* profiles are the
commits of ``mm/vmalloc.c`` that changed it, each the previous one plus the fields that
commit changed, so :data:`KERNEL_PROFILES` reads like the git log. A *what-if* profile is a
kernel profile plus changed fields that no kernel commit has, made with
:func:`vrealloc_profile`: a change to ``vrealloc()`` prototyped before it is written. The two
kinds never share a name: a what-if cannot be called by a commit id or alias, and it keeps
``kind == "what-if"`` wherever it is shown.

:func:`resolve_profile` turns a name (commit id, alias, registered what-if, or
``module:ATTRIBUTE``) into a profile. This module is a leaf: it imports nothing from the
simulator.

>>> resolve_profile("v6.15").commit, resolve_profile("grow-into-va").kind
('70d1eb031a68', 'what-if')
>>> idea = vrealloc_profile("latest", name="my-idea", move="remap")
>>> idea.kind, idea.base, idea.move
('what-if', 'e64f42036ef4', 'remap')
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Final, Literal

ShrinkZero = Literal["init_on_alloc", "init_on_free", "either"]
ShrinkKasan = Literal["none", "poison_then_unpoison", "poison", "kasan_vrealloc"]
GrowInPlace = Literal["none", "unpoison_zero_fallthrough", "unpoison_zero", "unpoison",
                      "unpoison_keep_tag", "kasan_vrealloc"]
GrowPages = Literal["none", "within_va", "extend_va"]
Move = Literal["copy", "remap"]
ProfileKind = Literal["kernel", "what-if"]

__all__ = ["KERNEL_PROFILES", "VREALLOC_ALIASES", "VREALLOC_HISTORY", "WHATIFS",
           "VreallocProfile", "profile_names", "register_profile", "resolve_profile",
           "vrealloc_profile"]


@dataclasses.dataclass(frozen=True)
class VreallocProfile:
    """What ``vrealloc()`` does: after one kernel commit, or in a what-if.

    Kernel fields (each kernel commit sets them as the code did):

    * ``label``: the function name in WARNs and KASAN reports;
    * ``old_is_requested``: the old size is ``vm->requested_size`` (else the area's size);
    * ``checks_mismatch``: ``WARN`` when the area is smaller than ``requested_size``;
    * ``align_and_node``: the ``(p, size, align, flags, nid)`` signature;
    * ``shrink_sets_requested``, ``shrink_zero``, ``shrink_kasan``, ``shrink_frees_pages``:
      what a shrink does;
    * ``grow_in_place``: what an in-place grow does (``"none"``: it never happens);
    * ``grow_limit_is_nr_pages``: grow in place while ``size <= nr_pages * PAGE_SIZE``
      (else while ``size`` fits the area);
    * ``copy_min``: a move copies ``min(size, old)`` bytes (else ``old``).

    What-if fields (no kernel commit sets them):

    * ``grow_pages``: a grow past the area's pages maps more pages in place: ``"within_va"``
      inside the area's own virtual range (pages a shrink freed), ``"extend_va"`` also into
      the free virtual range right after the area (the kernel's "TODO: Grow the vm_area");
    * ``move``: ``"remap"`` moves a small-page area by mapping its pages at the new address
      (as ``mremap`` does) instead of copying them;
    * ``move_keeps_huge``: a move of an area with huge mappings asks for huge mappings again.

    ``name`` is the commit id of a kernel profile and the chosen name of a what-if; ``base``
    is the commit a what-if builds on (a kernel profile's own commit); ``number`` is the
    base commit's position in :data:`VREALLOC_HISTORY` (1 to 9).
    """

    number: int
    commit: str
    label: str
    old_is_requested: bool
    checks_mismatch: bool
    align_and_node: bool
    shrink_sets_requested: bool
    shrink_zero: ShrinkZero
    shrink_kasan: ShrinkKasan
    grow_in_place: GrowInPlace
    grow_limit_is_nr_pages: bool
    copy_min: bool
    shrink_frees_pages: bool
    grow_pages: GrowPages = "none"
    move: Move = "copy"
    move_keeps_huge: bool = False
    kind: ProfileKind = "kernel"
    name: str = ""
    version: str = ""
    description: str = ""

    @property
    def base(self) -> str:
        """The kernel commit this profile is (kernel) or builds on (what-if)."""
        return self.commit

    @property
    def kasan_exact(self) -> bool:
        """KASAN's shadow of a live area covers exactly ``requested_size`` (``kasan_vrealloc``)."""
        return self.shrink_kasan == "kasan_vrealloc"


def _kernel(number: int, commit: str, version: str, title: str,
            prev: VreallocProfile | None = None, **changes: object) -> VreallocProfile:
    if prev is None:
        return VreallocProfile(number, commit, name=commit, version=version, description=title,
                               **changes)  # type: ignore[arg-type]
    return dataclasses.replace(prev, number=number, commit=commit, name=commit, version=version,
                               description=title, **changes)  # type: ignore[arg-type]


_P1 = _kernel(1, "3ddc2fefe6f3", "v6.12", "mm: vmalloc: implement vrealloc()",
              label="vrealloc_noprof", old_is_requested=False, checks_mismatch=False,
              align_and_node=False, shrink_sets_requested=False, shrink_zero="init_on_alloc",
              shrink_kasan="none", grow_in_place="none", grow_limit_is_nr_pages=False,
              copy_min=False, shrink_frees_pages=False)
_P2 = _kernel(2, "d699440f58ce", "v6.13-rc", "mm: fix vrealloc()'s KASAN poisoning logic", _P1,
              shrink_kasan="poison_then_unpoison")
_P3 = _kernel(3, "a0309faf1cb0", "v6.15-rc", "mm: vmalloc: support more granular vrealloc() sizing",
              _P2, old_is_requested=True, checks_mismatch=True, shrink_sets_requested=True,
              shrink_zero="init_on_free", shrink_kasan="poison",
              grow_in_place="unpoison_zero_fallthrough")
_P4 = _kernel(4, "f7a35a3c36d1", "v6.15-rc7", "mm: vmalloc: Actually use the in-place vrealloc region",
              _P3, grow_in_place="unpoison_zero")
_P5 = _kernel(5, "70d1eb031a68", "v6.15-rc7", "mm: vmalloc: Only zero-init on vrealloc shrink", _P4,
              shrink_zero="either", grow_in_place="unpoison")
_P6 = _kernel(6, "4c5d3365882d", "v6.17", "mm/vmalloc: allow to set node and align in vrealloc", _P5,
              label="vrealloc_node_align_noprof", align_and_node=True)
_P7 = _kernel(7, "007f5da43b3d", "v6.19-rc", "mm/kasan: fix incorrect unpoisoning in vrealloc for KASAN",
              _P6, grow_in_place="unpoison_keep_tag")
_P8 = _kernel(8, "9b47d4eea3f7", "2026", "mm/kasan: fix KASAN poisoning in vrealloc()", _P7,
              shrink_kasan="kasan_vrealloc", grow_in_place="kasan_vrealloc")
_P9 = _kernel(9, "e64f42036ef4", "2026", "mm/vmalloc: free unused pages on vrealloc() shrink", _P8,
              grow_limit_is_nr_pages=True, copy_min=True, shrink_frees_pages=True)

#: Every kernel profile, oldest first (index = number - 1).
KERNEL_PROFILES: Final = (_P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8, _P9)

#: The kernel's vrealloc history: the commit ids a kernel profile may name, oldest first.
VREALLOC_HISTORY: Final = tuple(p.commit for p in KERNEL_PROFILES)

#: Short names of kernel profiles: the release (or ``latest``) whose code a commit is.
VREALLOC_ALIASES: Final = {
    "latest": "e64f42036ef4",
    "v6.12": "3ddc2fefe6f3",
    "v6.13": "d699440f58ce",
    "v6.15": "70d1eb031a68",
    "v6.17": "4c5d3365882d",
    "v6.19": "007f5da43b3d",
}

_WHATIF_FIELDS: Final = frozenset({"grow_pages", "move", "move_keeps_huge"})
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "grow_pages": ("none", "within_va", "extend_va"),
    "move": ("copy", "remap"),
    "shrink_zero": ("init_on_alloc", "init_on_free", "either"),
    "shrink_kasan": ("none", "poison_then_unpoison", "poison", "kasan_vrealloc"),
    "grow_in_place": ("none", "unpoison_zero_fallthrough", "unpoison_zero", "unpoison",
                      "unpoison_keep_tag", "kasan_vrealloc"),
}
_BOOLS: Final = frozenset({"old_is_requested", "checks_mismatch", "align_and_node",
                           "shrink_sets_requested", "grow_limit_is_nr_pages", "copy_min",
                           "shrink_frees_pages", "move_keeps_huge"})
#: Fields a what-if may change: its own fields and the kernel's behaviour fields.
CHANGEABLE: Final = tuple(sorted(_WHATIF_FIELDS | _BOOLS | set(_CHOICES) | {"label"}))


def _kernel_profile(name: str) -> VreallocProfile | None:
    commit = VREALLOC_ALIASES.get(name, name)
    if commit in VREALLOC_HISTORY:
        return KERNEL_PROFILES[VREALLOC_HISTORY.index(commit)]
    return None


def vrealloc_profile(base: str | VreallocProfile = "latest", *, name: str,
                     description: str = "", **changes: object) -> VreallocProfile:
    """A what-if profile: ``base`` (a profile or its name) with ``changes`` applied.

    The result has ``kind == "what-if"`` and builds on ``base``'s commit. It is not
    registered: pass it to ``KernelConfig(vrealloc=...)`` directly, or
    :func:`register_profile` it to select it by name. O(fields).

    An in-place grow (``grow_pages``) needs a base whose in-place grow exists and does not
    fall through (70d1eb031a68 or later, or f7a35a3c36d1).

    >>> p = vrealloc_profile("v6.17", name="remap-on-v6.17", move="remap")
    >>> p.name, p.commit, p.kind, p.label
    ('remap-on-v6.17', '4c5d3365882d', 'what-if', 'vrealloc_node_align_noprof')
    >>> vrealloc_profile(name="x", grow="none")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: vrealloc_profile() got an unexpected field 'grow'; a what-if may change: align_and_node, ...
    """
    if not isinstance(name, str):
        raise TypeError(f"vrealloc_profile() name must be str, not {type(name).__name__}")
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"vrealloc_profile() name {name!r} must be non-empty letters, digits, "
                         "'-', '_' or '.'")
    if _kernel_profile(name) is not None:
        raise ValueError(f"vrealloc_profile() name {name!r} is a kernel commit or alias; "
                         "a what-if needs a name of its own")
    if not isinstance(description, str):
        raise TypeError(f"vrealloc_profile() description must be str, not "
                        f"{type(description).__name__}")
    base_profile = resolve_profile(base)
    for field, value in changes.items():
        if field not in CHANGEABLE:
            raise TypeError(f"vrealloc_profile() got an unexpected field {field!r}; "
                            f"a what-if may change: {', '.join(CHANGEABLE)}")
        if field in _BOOLS:
            if not isinstance(value, bool):
                raise TypeError(f"vrealloc_profile() {field} must be bool, not "
                                f"{type(value).__name__}")
        elif field in _CHOICES or field == "label":
            if not isinstance(value, str):
                raise TypeError(f"vrealloc_profile() {field} must be str, not "
                                f"{type(value).__name__}")
            if field in _CHOICES and value not in _CHOICES[field]:
                raise ValueError(f"vrealloc_profile() {field} = {value!r}; valid: "
                                 + ", ".join(repr(v) for v in _CHOICES[field]))
    prof = dataclasses.replace(base_profile, kind="what-if", name=name,
                               description=description, version="",
                               **changes)  # type: ignore[arg-type]
    if prof.grow_pages != "none" and prof.grow_in_place in ("none", "unpoison_zero_fallthrough"):
        raise ValueError(f"vrealloc_profile() grow_pages = {prof.grow_pages!r} needs an in-place "
                         f"grow; grow_in_place = {prof.grow_in_place!r} has none")
    return prof


_REGISTRY: dict[str, VreallocProfile] = {}



def register_profile(profile: VreallocProfile) -> VreallocProfile:
    """Make a what-if selectable by its name (``KernelConfig(vrealloc="name")``, studies).

    Registering the same profile again is a no-op; another profile under a registered name
    is a ``ValueError``. Returns ``profile``. O(1).
    """
    if not isinstance(profile, VreallocProfile):
        raise TypeError(f"register_profile() needs a VreallocProfile, not "
                        f"{type(profile).__name__}")
    if profile.kind != "what-if":
        raise ValueError(f"register_profile(): {profile.name} is a kernel profile; "
                         "only what-ifs are registered")
    have = _REGISTRY.get(profile.name)
    if have is not None and have != profile:
        raise ValueError(f"register_profile(): another what-if is registered as {profile.name!r}")
    _REGISTRY[profile.name] = profile
    return profile


def profile_names() -> tuple[str, ...]:
    """Every name :func:`resolve_profile` knows: commits, aliases, then what-ifs."""
    return VREALLOC_HISTORY + tuple(VREALLOC_ALIASES) + tuple(_REGISTRY)


def resolve_profile(spec: str | VreallocProfile) -> VreallocProfile:
    """The profile named by ``spec``: a commit id, an alias, a registered what-if, or
    ``module:ATTRIBUTE`` (imported, and registered if it is a what-if). A profile is
    returned as it is. ``ValueError`` names the valid choices. O(1) (plus the import).
    """
    if isinstance(spec, VreallocProfile):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a vrealloc profile must be str or VreallocProfile, not "
                        f"{type(spec).__name__}")
    prof = _kernel_profile(spec)
    if prof is not None:
        return prof
    prof = _REGISTRY.get(spec)
    if prof is not None:
        return prof
    if ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"vrealloc profile {spec!r}: {e}") from None
        if not isinstance(obj, VreallocProfile):
            raise ValueError(f"vrealloc profile {spec!r} is a {type(obj).__name__}, "
                             "not a VreallocProfile")
        return register_profile(obj) if obj.kind == "what-if" else obj
    valid = ", ".join(profile_names())
    raise ValueError(f"unknown vrealloc profile {spec!r}; valid: {valid}, or module:NAME")


#: The built-in what-ifs, each on latest (docs/whatif.md), registered by name.
WHATIFS: Final = (
    vrealloc_profile("latest", name="grow-into-va", grow_pages="extend_va",
                     description="a grow past the area's pages maps more pages in place, "
                                 "extending the area into free address space after it"),
    vrealloc_profile("latest", name="vremap", move="remap",
                     description="a move maps the old pages at the new address "
                                 "instead of copying them (mremap)"),
    vrealloc_profile("latest", name="refill-tail", grow_pages="within_va",
                     description="a grow within the area's address range maps fresh pages "
                                 "where a shrink freed them"),
    vrealloc_profile("latest", name="keep-huge", move_keeps_huge=True,
                     description="a move of an area with huge mappings asks for huge "
                                 "mappings again"),
)
for _p in WHATIFS:
    register_profile(_p)
