"""The lifecycle shared by every owning container (``Vec``, ``Box``): alive, dropped, or
given away as raw parts; ``drop`` on context-manager exit and on garbage collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import Self

from ._typing import A, T

if TYPE_CHECKING:
    from .elem import Elem

ALIVE, DROPPED, GIVEN_AWAY = 0, 1, 2


class Owner(Generic[T, A]):
    """Base of ``Vec`` and ``Box``: ``_state`` says whether the memory is still owned;
    ``drop`` frees it. Holds the element type and the allocator."""

    __slots__ = ()
    _alias = "Owner"
    _state: int
    _elem: Elem[T]
    _alloc: A

    @property
    def alloc(self) -> A:
        """The allocator."""
        return self._alloc

    @property
    def elem(self) -> Elem[T]:
        """The element type."""
        return self._elem

    def drop(self) -> None:
        """Free the memory now; later use raises ValueError."""
        raise NotImplementedError

    def _alive(self) -> None:
        if self._state:
            what = "dropped" if self._state == DROPPED else "given away as raw parts"
            raise ValueError(f"this {self._alias} was {what}")

    def _repr(self, elem_name: str, body: Any) -> str:
        if self._state:
            return f"{self._alias}({elem_name}, <{'dropped' if self._state == DROPPED else 'raw'}>)"
        return f"{self._alias}({elem_name}, {body!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def __del__(self) -> None:
        try:
            if getattr(self, "_state", DROPPED) == ALIVE:
                self.drop()
        except Exception:   # pragma: no cover - interpreter shutdown or a torn-down kernel
            pass
