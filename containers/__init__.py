"""Rust-for-Linux style containers whose bytes live in the simulated kernel memory of
:mod:`kvalloc`: ``Vec`` (``KVec``, ``VVec``, ``KVVec``), ``Box`` (``KBox``, ``VBox``,
``KVBox``), element types and growth policies (docs/guide.md#containers).

>>> from containers import VVec, u64
>>> from kvalloc import Kernel
>>> k = Kernel()
>>> v = VVec(u64, range(3), kernel=k)
>>> v.push(3); v.to_list(), v.capacity, k.is_vmalloc_addr(v.ptr)
([0, 1, 2, 3], 6, True)
"""

from __future__ import annotations

from . import elem, growth
from .elem import (
    Array,
    Elem,
    Struct,
    boolean,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
    isize,
    pyobj,
    u8,
    u16,
    u32,
    u64,
    usize,
)
from .errors import AllocError, InsertError, PushError, RemoveError
from .growth import CPYTHON_LIST, EXACT, FACTOR_1_5, RUST_KVEC, RUST_STD, GrowthPolicy
from .kbox import Box, KBox, KVBox, VBox
from .vec import KVec, KVVec, SearchResult, Vec, VecStats, VVec
from .view import Slice, SpareSlots

__all__ = [
    "AllocError", "Array", "Box", "CPYTHON_LIST", "EXACT", "Elem", "FACTOR_1_5", "GrowthPolicy",
    "InsertError", "KBox", "KVBox", "KVVec", "KVec", "PushError", "RUST_KVEC", "RUST_STD",
    "RemoveError", "SearchResult", "Slice", "SpareSlots",
    "Struct", "VBox", "VVec", "Vec", "VecStats", "boolean", "elem", "f32", "f64", "growth",
    "i16", "i32", "i64", "i8", "isize", "pyobj", "u16", "u32", "u64", "u8", "usize",
]
