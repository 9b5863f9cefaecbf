"""Errors of the containers: refusals that hand the value back (not out-of-memory)."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from kvalloc.errors import AllocError

T = TypeVar("T")


class PushError(Exception, Generic[T]):
    """``push_within_capacity`` found no spare capacity; ``value`` is handed back."""

    def __init__(self, value: T) -> None:
        super().__init__("no spare capacity")
        self.value = value


class InsertError(Exception, Generic[T]):
    """``insert_within_capacity`` refused; ``value`` is handed back, ``reason`` says why."""

    def __init__(self, value: T, reason: Literal["index_out_of_bounds", "out_of_capacity"]) -> None:
        super().__init__(reason.replace("_", " "))
        self.value = value
        self.reason = reason


class RemoveError(IndexError):
    """``Vec.remove_at`` was given an index outside ``[0, len)`` (Rust's ``RemoveError``).

    An ``IndexError``, so code written for lists catches it too.
    """

    def __init__(self, index: int, length: int) -> None:
        super().__init__(f"removal index (is {index}) should be < len (is {length})")
        self.index = index
        self.length = length


__all__ = ["AllocError", "InsertError", "PushError", "RemoveError"]
