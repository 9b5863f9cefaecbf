"""Argument checks shared by every layer: one wording for every ``TypeError`` and ``ValueError``.

A wrong type raises ``TypeError`` ("size must be int, not str"); an out-of-domain value
raises ``ValueError`` ("size must lie in [0, 2**64), got -1"). ``bool`` is never an ``int``
here, as the kernel's C types have no such confusion.

>>> require_int("size", 5, 0, 2**64)
5
>>> require_int("size", -1, 0, 2**64)
Traceback (most recent call last):
    ...
ValueError: size must lie in [0, 2**64), got -1
"""

from __future__ import annotations


def _bound(n: int) -> str:
    if n > 1 << 16 and n & (n - 1) == 0:
        return f"2**{n.bit_length() - 1}"
    return str(n)


def require_int(name: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an ``int`` (not ``bool``) with ``lo <= value < hi`` (either bound optional)."""
    if type(value) is not int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be int, not {type(value).__name__}")
        value = int(value)             # an IntFlag or IntEnum member: its plain value
    if (lo is not None and value < lo) or (hi is not None and value >= hi):
        if hi is None:
            raise ValueError(f"{name} must be >= {lo}, got {value}")
        low = "-inf" if lo is None else _bound(lo)
        raise ValueError(f"{name} must lie in [{low}, {_bound(hi)}), got {value}")
    return value


def require_bool(name: str, value: object) -> bool:
    """``value`` if it is a ``bool``, else ``TypeError``."""
    if type(value) is not bool:
        raise TypeError(f"{name} must be bool, not {type(value).__name__}")
    return value


def require_str(name: str, value: object) -> str:
    """``value`` if it is a ``str``, else ``TypeError``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    return value
