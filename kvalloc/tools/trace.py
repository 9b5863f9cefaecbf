r"""Workloads for the growth study: a plain-text operation trace and named generators of one.

A workload is a list of :class:`Op`. Its text form (``docs/workloads.md``) has one operation
a line::

    # a comment: blank lines, and everything from '#' to the end of a line, are ignored
    push 100              # vector 0 (the default id)
    reserve 50
    3: vrealloc 8192      # raw buffer 3 resized to 8192 bytes
    3: vrealloc 0         # ... and freed
    drop

Grammar (whitespace is free around every token; names are case-sensitive)::

    line   := [ id ":" ] name [ number ] [ "#" comment ]
    id     := number
    number := decimal digits | "0x" hex digits           value in [0, 2**64)
    name   := push | extend | reserve | truncate | shrink_to | drop
            | vrealloc | kvrealloc | krealloc

Every name but ``drop`` takes exactly one number; ``drop`` takes none (or 0).

Vector operations (:data:`VECTOR_OPS`), on vector ``id`` (a ``Vec`` of the study):

- ``push N``: ``Vec::push`` N times, one element each;
- ``extend N``: one ``Vec::extend_from_slice`` of N elements;
- ``reserve N``: ``Vec::reserve(N)``, room for N more elements;
- ``truncate N``: ``Vec::truncate(N)``, length ``min(len, N)``, capacity kept;
- ``shrink_to N``: ``Vec::shrink_to(N)``, capacity down to ``max(len, N)``;
- ``drop``: drop the vector (a later operation on the id starts a new, empty vector).

Raw operations (:data:`RAW_OPS`), on raw buffer ``id``: ``vrealloc SIZE``, ``kvrealloc SIZE``,
``krealloc SIZE`` resize the buffer to SIZE bytes with that kernel function; a buffer not yet
allocated starts as NULL, and SIZE 0 frees it.

Vector ids and raw-buffer ids are two separate spaces: ``push 1`` and ``kvrealloc 16`` both
act on id 0, the first on vector 0, the second on raw buffer 0. Ids need not be small or
dense (a captured pointer value is a good id); the study maps them to its own objects.

This module only describes workloads; the growth study (:mod:`kvalloc.tools.study`) runs them.

Example:
    >>> ops = parse_trace("push 3\n1: vrealloc 8192   # a raw buffer\n\ndrop\n")
    >>> ops[1]
    Op(name='vrealloc', arg=8192, buf=1)
    >>> print(format_trace(ops), end="")
    push 3
    1: vrealloc 8192
    drop
    >>> parse_trace(format_trace(ops)) == ops
    True
"""

from __future__ import annotations

import inspect
import os
import pathlib
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .._validate import require_int, require_str

__all__ = ["OPS", "RAW_OPS", "VECTOR_OPS", "WORKLOADS", "Op", "bpf_insn_hist", "burst",
           "format_trace", "load_trace", "parse_trace", "push", "random_ops", "sawtooth",
           "summary", "workload_ops"]

#: Operations on a vector, in the order error messages list them.
VECTOR_OPS: tuple[str, ...] = ("push", "extend", "reserve", "truncate", "shrink_to", "drop")
#: Raw allocator resizes of a raw buffer, named after the kernel function they call.
RAW_OPS: tuple[str, ...] = ("vrealloc", "kvrealloc", "krealloc")
#: Every operation name.
OPS: tuple[str, ...] = VECTOR_OPS + RAW_OPS

_LIMIT = 1 << 64            # counts, sizes and ids are size_t / pointer wide
_NOUN = {"push": "count", "extend": "count", "reserve": "count", "truncate": "length",
         "shrink_to": "capacity", "drop": "", "vrealloc": "size", "kvrealloc": "size",
         "krealloc": "size"}
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]+")
_VALID = ", ".join(OPS)


def _unknown(name: str) -> str:
    return f"unknown operation {name!r}; valid: {_VALID}"


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a workload: ``name`` with argument ``arg`` on vector or buffer ``buf``.

    ``arg`` is a count of elements (``push``, ``extend``, ``reserve``), a length
    (``truncate``), a capacity (``shrink_to``), a size in bytes (the raw operations), or 0
    (``drop``). ``buf`` is the vector id or raw-buffer id (see the module docstring). O(1).

    Checked on construction: ``name`` must be a ``str`` among :data:`OPS`; ``arg`` and ``buf``
    ints in ``[0, 2**64)``; ``drop`` takes ``arg`` 0. A wrong type raises ``TypeError``, a
    value out of its domain ``ValueError``, each naming the argument.

    >>> Op("push", 100)
    Op(name='push', arg=100, buf=0)
    >>> str(Op("vrealloc", 8192, buf=3)), str(Op("drop", 0))
    ('3: vrealloc 8192', 'drop')
    >>> Op("push", -1)
    Traceback (most recent call last):
        ...
    ValueError: arg must lie in [0, 2**64), got -1
    """

    name: str
    arg: int
    buf: int = 0

    def __post_init__(self) -> None:
        name = str(require_str("name", self.name))
        if name not in _NOUN:
            raise ValueError(_unknown(name))
        arg = require_int("arg", self.arg, 0, _LIMIT)
        buf = require_int("buf", self.buf, 0, _LIMIT)
        if name == "drop" and arg != 0:
            raise ValueError(f"arg must be 0 for drop, got {arg}")
        # plain str / int even when given a subclass (an IntEnum member, say)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "arg", arg)
        object.__setattr__(self, "buf", buf)

    def __str__(self) -> str:
        """The operation as one trace line (no newline): ``[buf: ]name [arg]``. O(1)."""
        text = self.name if self.name == "drop" else f"{self.name} {self.arg}"
        return text if self.buf == 0 else f"{self.buf}: {text}"


def _number(token: str) -> int | None:
    """The value of a decimal or 0x-hex token (capped at 2**64), None if it is neither."""
    if _NUMBER.fullmatch(token) is None:
        return None
    hexa = token[1:2] in ("x", "X")
    digits = (token[2:] if hexa else token).lstrip("0")
    if len(digits) > (16 if hexa else 20):        # past 2**64 (and int()'s digit limit)
        return _LIMIT
    return int(digits or "0", 16 if hexa else 10)


def _parse_line(line: str) -> Op | None:
    """The operation on one line, None for a blank or comment line; ValueError (no line number)."""
    body = line.split("#", 1)[0].strip()
    if not body:
        return None
    buf = 0
    if ":" in body:
        head, body = (part.strip() for part in body.split(":", 1))
        if not head:
            raise ValueError("missing buffer id before ':'")
        parsed = _number(head)
        if parsed is None:
            raise ValueError(f"buffer id must be an integer >= 0, got {head!r}")
        if parsed >= _LIMIT:
            raise ValueError(f"buffer id must be < 2**64, got {head!r}")
        buf = parsed
        if not body:
            raise ValueError(f"missing operation after '{head}:'")
    fields = body.split()
    name = fields[0]
    if name not in _NOUN:
        raise ValueError(_unknown(name))
    if name == "drop":
        if fields[1:] and (len(fields) > 2 or _number(fields[1]) != 0):   # "drop 0" is fine
            raise ValueError(f"drop takes no argument, got {' '.join(fields[1:])!r}")
        arg = 0
    else:
        noun = _NOUN[name]
        if len(fields) == 1:
            raise ValueError(f"{name} needs a {noun} >= 0, got nothing")
        if len(fields) > 2:
            raise ValueError(f"{name} takes one {noun}, got {' '.join(fields[1:])!r}")
        parsed = _number(fields[1])
        if parsed is None:
            raise ValueError(f"{name} needs a {noun} >= 0, got {fields[1]!r}")
        if parsed >= _LIMIT:
            raise ValueError(f"{name} needs a {noun} < 2**64, got {fields[1]!r}")
        arg = parsed
    return Op(name, arg, buf)


def parse_trace(text: str) -> list[Op]:
    r"""The operations of a trace text, in order (format in the module docstring).

    Blank lines and ``#`` comments are skipped; lines are numbered from 1 counting every line.
    Any malformed line raises ``ValueError("line N: what is wrong")``; a non-``str`` ``text``
    raises ``TypeError``. O(len(text)).

    >>> parse_trace("  push 100 \n# growing\n2:extend 0x10\n")
    [Op(name='push', arg=100, buf=0), Op(name='extend', arg=16, buf=2)]
    >>> parse_trace("push 1\n\npsuh 2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: line 3: unknown operation 'psuh'; valid: push, extend, reserve, truncate, ...
    """
    require_str("text", text)
    ops: list[Op] = []
    for number, line in enumerate(text.split("\n"), 1):
        try:
            op = _parse_line(line.rstrip("\r"))
        except ValueError as e:
            raise ValueError(f"line {number}: {e}") from None
        if op is not None:
            ops.append(op)
    return ops


def load_trace(path: str | os.PathLike[str]) -> list[Op]:
    """:func:`parse_trace` of a UTF-8 file; a format error reads ``"PATH: line N: ..."``.

    O(size of the file). ``OSError`` if the file cannot be read.

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d, "w.trace"); _ = p.write_text("push 5\\ndrop\\n")
    ...     load_trace(p)
    [Op(name='push', arg=5, buf=0), Op(name='drop', arg=0, buf=0)]
    """
    text = pathlib.Path(path).read_text(encoding="utf-8")
    try:
        return parse_trace(text)
    except ValueError as e:
        raise ValueError(f"{os.fspath(path)}: {e}") from None


def format_trace(ops: Iterable[Op]) -> str:
    """The trace text of ``ops``: one line each, newline-terminated ("" for no operations).

    The inverse of :func:`parse_trace`: ``parse_trace(format_trace(ops)) == list(ops)``.
    Ids and numbers are written in decimal, buffer 0's id is left out. ``TypeError`` for an
    item that is not an :class:`Op`. O(number of operations).

    >>> print(format_trace([Op("push", 8), Op("kvrealloc", 32, 7), Op("drop", 0)]), end="")
    push 8
    7: kvrealloc 32
    drop
    """
    lines = []
    for i, op in enumerate(ops):
        if not isinstance(op, Op):
            raise TypeError(f"ops[{i}] must be Op, not {type(op).__name__}")
        lines.append(f"{op}\n")
    return "".join(lines)


# -- named workloads -------------------------------------------------------------------------

def push(n: int) -> list[Op]:
    """The default workload: ``n`` pushes, one by one, as a single operation. O(1).

    >>> push(1000)
    [Op(name='push', arg=1000, buf=0)]
    """
    return [Op("push", require_int("n", n, 0))]


def burst(n: int, peak: int | None = None, floor: int | None = None, rounds: int = 4) -> list[Op]:
    """Bursts: push up to ``peak``, ``truncate(floor)``, ``shrink_to(floor)``; ``rounds`` times.

    The pattern of a queue or log buffer that fills up, is drained and gives its memory back:
    the shrink is a ``shrink_to_fit`` (the length is ``floor`` at that point), so each round
    after the first regrows from ``floor`` elements of capacity. Defaults: ``peak = n``,
    ``floor = n // 8``. Needs ``0 <= floor <= peak`` and ``rounds >= 1``; the vector ends at
    length ``floor`` having pushed ``peak + (rounds - 1) * (peak - floor)`` elements.
    3 operations a round, O(rounds).

    >>> [str(op) for op in burst(80, rounds=2)]
    ['push 80', 'truncate 10', 'shrink_to 10', 'push 70', 'truncate 10', 'shrink_to 10']
    """
    n = require_int("n", n, 0)
    top = n if peak is None else require_int("peak", peak, 0, _LIMIT)
    low = n // 8 if floor is None else require_int("floor", floor, 0)
    rounds = require_int("rounds", rounds, 1)
    if low > top:
        raise ValueError(f"floor must be <= peak, got floor={low} and peak={top}")
    ops: list[Op] = []
    length = 0
    for _ in range(rounds):
        ops += [Op("push", top - length), Op("truncate", low), Op("shrink_to", low)]
        length = low
    return ops


def sawtooth(n: int, teeth: int = 8) -> list[Op]:
    """A saw that climbs to ``n``: each tooth pushes, then truncates back half of its rise.

    With ``d = teeth + 1``, tooth ``i`` (1 to ``teeth``) pushes from the previous trough
    ``(i - 1) * n // d`` up to the top ``(i + 1) * n // d`` (a rise of about ``2n / d``) and
    truncates to ``i * n // d`` (back about ``n / d``, half the rise). The last top is ``n``,
    the final length ``teeth * n // d``. Needs ``teeth >= 1``. 2 operations a tooth, O(teeth).

    >>> [str(op) for op in sawtooth(90, teeth=3)][:4]
    ['push 45', 'truncate 22', 'push 45', 'truncate 45']
    >>> summary(sawtooth(90))["peak_len"], summary(sawtooth(90))["final_len"]
    (90, 80)
    """
    n = require_int("n", n, 0)
    teeth = require_int("teeth", teeth, 1)
    d = teeth + 1
    ops: list[Op] = []
    for i in range(1, teeth + 1):
        ops += [Op("push", (i + 1) * n // d - (i - 1) * n // d), Op("truncate", i * n // d)]
    return ops


def bpf_insn_hist(n: int) -> list[Op]:
    """The BPF verifier's instruction history: ``kvrealloc`` to 16, 32, ... ``16 * n`` bytes.

    ``push_insn_history()`` in ``kernel/bpf/verifier.c`` (kernels from v6.13) appends a
    16-byte ``struct bpf_insn_hist_entry`` and, once past the capacity, grows the array to
    exactly one more entry with ``kvrealloc()``: one resize per append, no amortisation. With
    a0309faf1cb0 ("mm: vmalloc: support more granular vrealloc() sizing") every such grow of
    a vmalloc'd history copied the whole array; f7a35a3c36d1 ("mm: vmalloc: Actually use the
    in-place vrealloc region") made it grow in place again. ``n`` raw operations on raw
    buffer 0; O(n).

    >>> [str(op) for op in bpf_insn_hist(3)]
    ['kvrealloc 16', 'kvrealloc 32', 'kvrealloc 48']
    """
    n = require_int("n", n, 0)
    return [Op("kvrealloc", 16 * k) for k in range(1, n + 1)]


def random_ops(n: int, seed: int = 0) -> list[Op]:
    """A seeded random mix of vector operations that pushes exactly ``n`` elements in all.

    Each step is, with probability: 0.55 ``push k`` (``k`` uniform in ``[1, max(1, n // 64)]``,
    cut to what is left of ``n``), 0.15 a pop (``truncate len - 1``), 0.10 a truncate to a
    length in ``[len // 2, len]``, 0.10 ``reserve k`` (``k`` as for push), 0.10 ``shrink_to``
    a capacity in ``[0, len]`` (pops and truncates of an empty vector are skipped). The same
    ``n`` and ``seed`` give the same list on every run and Python version
    (``random.Random(seed)``). About ``1.8 * n`` operations below ``n = 64`` and about 230
    above; O(that).

    >>> [str(op) for op in random_ops(1000, seed=1)][:5]
    ['push 14', 'reserve 2', 'push 8', 'truncate 18', 'truncate 17']
    >>> summary(random_ops(100, seed=1))["pushed"]
    100
    """
    n = require_int("n", n, 0)
    rng = random.Random(require_int("seed", seed))
    chunk = max(1, n // 64)
    ops: list[Op] = []
    pushed = length = 0
    while pushed < n:
        r = rng.random()
        if r < 0.55:
            k = min(n - pushed, rng.randrange(1, chunk + 1))
            ops.append(Op("push", k))
            pushed += k
            length += k
        elif r < 0.70:
            if length:
                length -= 1
                ops.append(Op("truncate", length))
        elif r < 0.80:
            if length:
                length = rng.randrange(length // 2, length + 1)
                ops.append(Op("truncate", length))
        elif r < 0.90:
            ops.append(Op("reserve", rng.randrange(1, chunk + 1)))
        else:
            ops.append(Op("shrink_to", rng.randrange(length + 1)))
    return ops


#: The named workloads: each takes the element count ``n`` first (``random`` also ``seed``).
WORKLOADS: dict[str, Callable[..., list[Op]]] = {
    "push": push, "burst": burst, "sawtooth": sawtooth, "bpf-insn-hist": bpf_insn_hist,
    "random": random_ops,
}


def workload_ops(name_or_path: str, n: int, seed: int = 0) -> list[Op]:
    """The operations of a named workload for ``n`` elements, or of a trace file.

    A name in :data:`WORKLOADS` wins; ``seed`` goes to workloads that take one. Otherwise
    ``name_or_path`` must be an existing file, read with :func:`load_trace` (``n`` and
    ``seed`` then play no part). Anything else raises ``ValueError`` listing the valid names.
    O(the operations made or read).

    >>> workload_ops("bpf-insn-hist", 2)
    [Op(name='kvrealloc', arg=16, buf=0), Op(name='kvrealloc', arg=32, buf=0)]
    >>> workload_ops("random", 50, seed=3) == random_ops(50, seed=3)
    True
    >>> workload_ops("pushh", 10)
    Traceback (most recent call last):
        ...
    ValueError: unknown workload 'pushh'; valid: push, burst, sawtooth, bpf-insn-hist, random, \
or the path of a trace file
    """
    require_str("name_or_path", name_or_path)
    n = require_int("n", n, 0)
    seed = require_int("seed", seed)
    fn = WORKLOADS.get(name_or_path)
    if fn is not None:
        if "seed" in inspect.signature(fn).parameters:
            return fn(n, seed=seed)
        return fn(n)
    if name_or_path and os.path.isfile(name_or_path):
        return load_trace(name_or_path)
    raise ValueError(f"unknown workload {name_or_path!r}; valid: {', '.join(WORKLOADS)}, "
                     "or the path of a trace file")


def summary(ops: Iterable[Op]) -> dict[str, int]:
    """Counts per operation name, and the lengths and sizes the operations imply.

    Keys: every name of :data:`OPS` (its number of operations, 0 if absent); ``ops`` (all
    operations); ``buffers`` (distinct vectors and raw buffers named); for vector 0 ``pushed``
    (elements added by ``push`` and ``extend``), ``final_len`` and ``peak_len``, by length
    arithmetic (push/extend add, truncate sets ``min(len, N)``, drop sets 0; reserve and
    shrink_to keep the length); for raw buffer 0 ``final_size`` and ``peak_size`` in bytes
    (the last and the largest size asked for; 0 once freed). Nothing is allocated.
    ``TypeError`` for an item that is not an :class:`Op`. O(number of operations).

    >>> s = summary(burst(800))
    >>> s["push"], s["truncate"], s["pushed"], s["peak_len"], s["final_len"]
    (4, 4, 2900, 800, 100)
    >>> summary(bpf_insn_hist(10))["final_size"]
    160
    """
    counts = dict.fromkeys(OPS, 0)
    ids: set[tuple[bool, int]] = set()
    total = pushed = length = peak = size = peak_size = 0
    for i, op in enumerate(ops):
        if not isinstance(op, Op):
            raise TypeError(f"ops[{i}] must be Op, not {type(op).__name__}")
        total += 1
        counts[op.name] += 1
        raw = op.name in RAW_OPS
        ids.add((raw, op.buf))
        if op.buf != 0:
            continue
        if raw:
            size = op.arg
            peak_size = max(peak_size, size)
        elif op.name in ("push", "extend"):
            pushed += op.arg
            length += op.arg
            peak = max(peak, length)
        elif op.name == "truncate":
            length = min(length, op.arg)
        elif op.name == "drop":
            length = 0
    return {**counts, "ops": total, "buffers": len(ids), "pushed": pushed, "final_len": length,
            "peak_len": peak, "final_size": size, "peak_size": peak_size}
