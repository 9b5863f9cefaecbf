"""The type variables shared by the containers (one place, as in bidict's ``_typing``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from kvalloc.alloc import Allocator

T = TypeVar("T")
U = TypeVar("U")
#: The allocator of a container, bound to the ``Allocator`` protocol.
A = TypeVar("A", bound="Allocator")
B = TypeVar("B", bound="Allocator")
