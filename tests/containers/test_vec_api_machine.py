"""The new Vec API (issue 13, /tmp/i13/API.md) against Python lists: a Hypothesis
RuleBasedStateMachine over a KVec of u32, a VVec of u64 and a KVec of pyobj (Token objects,
identity checked), with ``_check()`` and ``kernel.check()`` after every step, under KASAN off,
generic and sw_tags."""

from __future__ import annotations

import functools
from typing import Any, Literal

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from containers import KVec, Vec, VVec, pyobj, u32, u64
from containers.errors import RemoveError
from kvalloc import PAGE_SIZE, Kernel, KernelConfig, Kmalloc, KVmalloc, Vmalloc

from ..helpers import Token
from .test_vec_machine import machine_case

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]

U32 = st.integers(0, 2**32 - 1)
SMALL_U32 = st.integers(0, 6)                 # few distinct values: dedup and search find runs
IDX = st.integers(-12, 12)
Kasan = Literal["off", "generic", "sw_tags"]


def _n(o: object) -> int:
    assert isinstance(o, Token)
    return o.n


def _same(got: list[Any], want: list[Any]) -> bool:
    return len(got) == len(want) and all(x is y for x, y in zip(got, want))


class VecApiMachineBase(RuleBasedStateMachine):
    """a: KVec[u32], b: VVec[u64], c: KVec[pyobj] side by side with m (values) and t
    (the Token objects of c; t[i].n == m[i])."""

    kasan: Kasan = "off"

    def __init__(self) -> None:
        super().__init__()
        self.k = Kernel(KernelConfig(kasan=self.kasan))
        self.a: Vec[int, Kmalloc] = KVec(u32, kernel=self.k)
        self.b: Vec[int, Vmalloc] = VVec(u64, kernel=self.k)
        self.c: Vec[object, Kmalloc] = KVec(pyobj, kernel=self.k)
        self.m: list[int] = []
        self.t: list[Token] = []
        # (vector, reallocs, ptr, capacity, view) for every as_memoryview taken
        self.views: list[tuple[Vec[int, Any], int, int, int, memoryview]] = []

    # -- helpers ---------------------------------------------------------------------

    def _ints(self) -> list[Vec[int, Any]]:
        return [self.a, self.b]

    def _all(self) -> list[Vec[Any, Any]]:
        return [self.a, self.b, self.c]

    def _set(self, m: list[int], t: list[Token]) -> None:
        self.m, self.t = m, t

    def _check_new(self, w: Vec[Any, Any], v: Vec[Any, Any], want: list[Any]) -> None:
        """``w`` is a fresh vector of ``v``'s class and allocator holding ``want``."""
        assert type(w) is type(v) and w.alloc == v.alloc
        got = w.to_list()
        if v.elem is pyobj:
            assert _same(got, want)
        else:
            assert got == want
        w._check()
        w.drop()

    # -- Rust-for-Linux parity ---------------------------------------------------------

    @rule(xs=st.lists(SMALL_U32, max_size=10))
    def extend(self, xs: list[int]) -> None:
        toks = [Token(x) for x in xs]
        self.a.extend(xs)
        self.b.extend(xs)
        self.c.extend(toks)
        self.m.extend(xs)
        self.t.extend(toks)

    @rule(i=IDX)
    def remove_at(self, i: int) -> None:
        n = len(self.m)
        if 0 <= i < n:
            want = self.m.pop(i)
            assert self.a.remove_at(i) == want and self.b.remove_at(i) == want
            assert self.c.remove_at(i) is self.t.pop(i)
            return
        for v in self._all():
            before = v.to_list(), v.capacity, v.ptr
            with pytest.raises(RemoveError, match=r"^removal index \(is "):
                v.remove_at(i)
            after = v.to_list(), v.capacity, v.ptr
            assert after[1:] == before[1:] and _same(after[0], before[0])

    @rule(n=st.integers(0, 12), x=SMALL_U32)
    def extend_with(self, n: int, x: int) -> None:
        tok = Token(x)
        grow = len(self.m) + n > self.a.capacity
        reallocs = self.a.stats.reallocs
        self.a.extend_with(n, x)
        self.b.extend_with(n, x)
        self.c.extend_with(n, tok)
        assert self.a.stats.reallocs == reallocs + (1 if grow else 0)
        self.m.extend([x] * n)
        self.t.extend([tok] * n)

    @rule(n=st.integers(0, 20), x=SMALL_U32)
    def from_elem(self, n: int, x: int) -> None:
        tok = Token(x)
        for v in self._all():
            v.drop()
        self.a = KVec.from_elem(u32, x, n, kernel=self.k)
        self.b = VVec.from_elem(u64, x, n, kernel=self.k)
        self.c = KVec.from_elem(pyobj, tok, n, kernel=self.k)
        for v in self._all():
            assert v.capacity == n
        self._set([x] * n, [tok] * n)

    @rule(xs=st.lists(SMALL_U32, max_size=8), reverse=st.booleans())
    def spare_write_inc_len(self, xs: list[int], reverse: bool) -> None:
        toks = [Token(x) for x in xs]
        order = list(range(len(xs)))[::-1] if reverse else list(range(len(xs)))
        targets: list[tuple[Vec[Any, Any], list[Any]]] = [(self.a, xs), (self.b, xs),
                                                           (self.c, toks)]
        for v, vals in targets:
            v.reserve(len(xs))
            s = v.spare_capacity_mut()
            assert len(s) == v.capacity - len(v)
            for i in order:
                if i % 2:
                    s[i] = vals[i]
                else:
                    s.write(i, vals[i])
            if v.elem is not pyobj:
                assert [s[i] for i in range(len(xs))] == xs
            v.inc_len(len(xs))
            if xs:                               # the length changed
                with pytest.raises(ValueError, match="view is stale"):
                    len(s)
        self.m.extend(xs)
        self.t.extend(toks)

    @rule(xs=st.lists(SMALL_U32, min_size=1, max_size=6))
    def spare_slice_write(self, xs: list[int]) -> None:
        for v in self._ints():
            v.reserve(len(xs))
            v.spare_capacity_mut()[0:len(xs)] = xs
            v.inc_len(len(xs))
        toks = [Token(x) for x in xs]
        self.c.reserve(len(xs))
        self.c.spare_capacity_mut()[0:len(xs)] = toks
        self.c.inc_len(len(xs))
        self.m.extend(xs)
        self.t.extend(toks)

    @rule(n=st.integers(0, 12))
    def dec_len(self, n: int) -> None:
        if n > len(self.m):
            for v in self._all():
                with pytest.raises(ValueError):
                    v.dec_len(n)
            return
        cut = len(self.m) - n
        assert self.a.dec_len(n) == self.m[cut:] == self.b.dec_len(n)
        assert _same(self.c.dec_len(n), self.t[cut:])
        del self.m[cut:]
        del self.t[cut:]

    @rule(i=IDX, j=IDX)
    def as_slice(self, i: int, j: int) -> None:
        for v, want in ((self.a, self.m), (self.b, self.m)):
            s = v.as_slice()
            assert len(s) == len(want) and list(s) == want and s == want
            assert s[max(i, 0):max(j, 0)] == want[max(i, 0):max(j, 0)]
            if 0 <= i < len(want):
                assert s[i] == want[i]
        sc = self.c.as_slice()
        assert _same(list(sc), self.t)

    @rule()
    def page_iter(self) -> None:
        b, k = self.b, self.k
        nbytes = b.capacity * 8
        if nbytes:
            want = []
            for i in range((nbytes + PAGE_SIZE - 1) // PAGE_SIZE):
                page = k.vmalloc_to_page(b.ptr + i * PAGE_SIZE)
                assert page is not None
                want.append(page.pfn)
            assert [p.pfn for p in b.page_iter()] == want
        for v in (self.a, self.c):
            with pytest.raises(TypeError, match="page_iter needs a vmalloc-backed buffer"):
                list(v.page_iter())

    @rule(through=st.sampled_from(["same", "other"]))
    def collect(self, through: str) -> None:
        k = self.k
        if through == "same":
            ptrs = [v.ptr for v in self._all()]
            self.a = self.a.collect(Kmalloc(k))
            self.b = self.b.collect(Vmalloc(k))
            self.c = self.c.collect(Kmalloc(k))
            assert [v.ptr for v in self._all()] == ptrs      # the buffers are handed over
        else:
            old = self._all()
            self.a = self.a.collect(KVmalloc(k)).collect(Kmalloc(k))
            self.b = self.b.collect(Kmalloc(k)).collect(Vmalloc(k))
            self.c = self.c.collect(Vmalloc(k)).collect(Kmalloc(k))
            for v in old:
                with pytest.raises(ValueError):
                    len(v)

    # -- Rust std conveniences -------------------------------------------------------------

    @precondition(lambda self: bool(self.m))
    @rule(i=IDX)
    def swap_remove(self, i: int) -> None:
        j = i % len(self.m)
        assert self.a.swap_remove(j) == self.m[j] == self.b.swap_remove(j - len(self.m))
        assert self.c.swap_remove(j) is self.t[j]
        last, tlast = self.m.pop(), self.t.pop()
        if j < len(self.m):
            self.m[j], self.t[j] = last, tlast

    @rule(at=st.integers(0, 25), rejoin=st.booleans())
    def split_off(self, at: int, rejoin: bool) -> None:
        if at > len(self.m):
            for v in self._all():
                with pytest.raises(ValueError):
                    v.split_off(at)
            return
        tails: list[Vec[Any, Any]] = []
        for v in self._all():
            w = v.split_off(at)
            assert type(w) is type(v) and w.alloc == v.alloc
            tails.append(w)
        assert tails[0].to_list() == self.m[at:] == tails[1].to_list()
        assert _same(tails[2].to_list(), self.t[at:])
        if rejoin:
            for v, w in zip(self._all(), tails):
                cap = w.capacity
                v.append_vec(w)
                assert len(w) == 0 and w.capacity == cap
                w.drop()
        else:
            for w in tails:
                w.drop()
            del self.m[at:]
            del self.t[at:]

    @rule(xs=st.lists(SMALL_U32, max_size=8))
    def append_vec(self, xs: list[int]) -> None:
        toks = [Token(x) for x in xs]
        others: list[Vec[Any, Any]] = [VVec(u32, xs, kernel=self.k), KVec(u64, xs, kernel=self.k),
                                       VVec(pyobj, toks, kernel=self.k)]
        for v, o in zip(self._all(), others):
            v.append_vec(o)
            assert len(o) == 0
            o._check()
            o.drop()
        self.m.extend(xs)
        self.t.extend(toks)

    def _dedup_model(self, same: Any) -> None:
        keep: list[int] = []
        for i in range(len(self.m)):
            if not keep or not same(self.m[i], self.m[keep[-1]]):
                keep.append(i)
        self._set([self.m[i] for i in keep], [self.t[i] for i in keep])

    @rule(how=st.sampled_from(["plain", "key", "by"]), mod=st.integers(1, 3))
    def dedup(self, how: str, mod: int) -> None:
        if how == "plain":
            self.a.dedup()
            self.b.dedup()
            self.c.dedup_by_key(_n)                  # Tokens compare by identity: dedup by value
            self._dedup_model(lambda x, y: x == y)
        elif how == "key":
            self.a.dedup_by_key(lambda x: x % mod)
            self.b.dedup_by_key(lambda x: x % mod)
            self.c.dedup_by_key(lambda o: _n(o) % mod)
            self._dedup_model(lambda x, y: x % mod == y % mod)
        else:
            # Rust: each element is compared with the last one kept
            self.a.dedup_by(lambda x, y: abs(x - y) <= mod)
            self.b.dedup_by(lambda x, y: abs(x - y) <= mod)
            self.c.dedup_by(lambda x, y: abs(_n(x) - _n(y)) <= mod)
            self._dedup_model(lambda later, kept: abs(later - kept) <= mod)

    @rule()
    def dedup_identity(self) -> None:
        self.c.dedup()                               # only the same object is a duplicate
        keep = [i for i in range(len(self.t)) if i == 0 or self.t[i] is not self.t[i - 1]]
        self._set([self.m[i] for i in keep], [self.t[i] for i in keep])
        for v in self._ints():
            v.clear()
            v.extend(self.m)

    @rule(lo=st.integers(0, 25), hi=st.integers(0, 25), as_range=st.booleans())
    def drain(self, lo: int, hi: int, as_range: bool) -> None:
        n = len(self.m)
        lo, hi = min(lo, hi, n), min(max(lo, hi), n)
        r: range | slice = range(lo, hi) if as_range else slice(lo, hi)
        its = [v.drain(r) for v in self._all()]
        for v in self._all():
            assert len(v) == n - (hi - lo)            # removed at once
        assert list(its[0]) == self.m[lo:hi] == list(its[1])
        assert _same(list(its[2]), self.t[lo:hi])
        del self.m[lo:hi]
        del self.t[lo:hi]

    @rule(lo=st.integers(0, 25), hi=st.integers(0, 25), as_range=st.booleans())
    def extend_from_within(self, lo: int, hi: int, as_range: bool) -> None:
        n = len(self.m)
        lo, hi = min(lo, hi, n), min(max(lo, hi), n)
        r: range | slice = range(lo, hi) if as_range else slice(lo, hi)
        for v in self._all():
            v.extend_from_within(r)
        self.m.extend(self.m[lo:hi])
        self.t.extend(self.t[lo:hi])

    @rule(how=st.sampled_from(["plain", "key", "by_key", "by"]), reverse=st.booleans(),
          mod=st.integers(1, 4))
    def sort(self, how: str, reverse: bool, mod: int) -> None:
        order = list(range(len(self.m)))
        if how == "plain":
            self.a.sort(reverse=reverse)
            self.b.sort(reverse=reverse)
            self.c.sort(key=_n, reverse=reverse)
            order.sort(key=lambda i: self.m[i], reverse=reverse)
        elif how == "key":
            self.a.sort(key=lambda x: x % mod, reverse=reverse)
            self.b.sort(key=lambda x: x % mod, reverse=reverse)
            self.c.sort(key=lambda o: _n(o) % mod, reverse=reverse)
            order.sort(key=lambda i: self.m[i] % mod, reverse=reverse)
        elif how == "by_key":
            self.a.sort_by_key(lambda x: -x)
            self.b.sort_by_key(lambda x: -x)
            self.c.sort_by_key(lambda o: -_n(o))
            order.sort(key=lambda i: -self.m[i])
        else:
            self.a.sort_by(lambda x, y: x % mod - y % mod)
            self.b.sort_by(lambda x, y: x % mod - y % mod)
            self.c.sort_by(lambda x, y: _n(x) % mod - _n(y) % mod)
            m = self.m

            def cmp(i: int, j: int) -> int:
                return m[i] % mod - m[j] % mod

            order.sort(key=functools.cmp_to_key(cmp))
        self._set([self.m[i] for i in order], [self.t[i] for i in order])

    @rule(x=st.integers(-1, 8))
    def binary_search(self, x: int) -> None:
        for v in self._ints():
            v.sort()
        self.c.sort(key=_n)
        order = sorted(range(len(self.m)), key=lambda i: self.m[i])
        self._set([self.m[i] for i in order], [self.t[i] for i in order])
        below = sum(1 for y in self.m if y < x)
        for r in (self.a.binary_search(x), self.b.binary_search(x),
                  self.c.binary_search_by_key(x, _n), self.a.binary_search_by_key(x, lambda y: y)):
            if x in self.m:
                assert r.found and self.m[r.index] == x
            else:
                assert tuple(r) == (False, below)

    @rule(n=st.integers(-1, 6))
    def chunks_windows(self, n: int) -> None:
        if n < 1:
            for v in self._all():
                with pytest.raises(ValueError):
                    list(v.chunks(n))
                with pytest.raises(ValueError):
                    list(v.windows(n))
            return
        m, t = self.m, self.t
        for v in self._ints():
            assert list(v.chunks(n)) == [m[i:i + n] for i in range(0, len(m), n)]
            assert list(v.windows(n)) == [m[i:i + n] for i in range(len(m) - n + 1)]
        ch, wi = list(self.c.chunks(n)), list(self.c.windows(n))
        assert len(ch) == len(range(0, len(t), n)) and len(wi) == max(0, len(t) - n + 1)
        assert all(_same(c, t[i:i + n]) for c, i in zip(ch, range(0, len(t), n)))
        assert all(_same(w, t[i:i + n]) for i, w in enumerate(wi))

    @rule(x=SMALL_U32)
    def fill(self, x: int) -> None:
        tok = Token(x)
        self.a.fill(x)
        self.b.fill(x)
        self.c.fill(tok)
        self._set([x] * len(self.m), [tok] * len(self.m))

    @rule(kk=st.integers(0, 25), left=st.booleans())
    def rotate(self, kk: int, left: bool) -> None:
        n = len(self.m)
        if kk > n:
            for v in self._all():
                with pytest.raises(ValueError):
                    (v.rotate_left if left else v.rotate_right)(kk)
            return
        for v in self._all():
            (v.rotate_left if left else v.rotate_right)(kk)
        cut = kk if left else n - kk
        self._set(self.m[cut:] + self.m[:cut], self.t[cut:] + self.t[:cut])

    @rule(i=IDX)
    def first_last_get(self, i: int) -> None:
        m, t = self.m, self.t
        for v in self._ints():
            assert v.first() == (m[0] if m else None)
            assert v.last() == (m[-1] if m else None)
            assert v.get(i) == (m[i] if 0 <= i < len(m) else None)
        assert self.c.first() is (t[0] if t else None)
        assert self.c.last() is (t[-1] if t else None)
        assert self.c.get(i) is (t[i] if 0 <= i < len(t) else None)

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(0, 50), j=st.integers(0, 50))
    def swap(self, i: int, j: int) -> None:
        i, j = i % len(self.m), j % len(self.m)
        for v in self._all():
            v.swap(i, j)
        self.m[i], self.m[j] = self.m[j], self.m[i]
        self.t[i], self.t[j] = self.t[j], self.t[i]

    # -- Python list conformance -----------------------------------------------------------

    @rule(xs=st.lists(SMALL_U32, max_size=6), form=st.sampled_from(["list", "tuple", "vec"]))
    def add(self, xs: list[int], form: str) -> None:
        toks = [Token(x) for x in xs]
        for v, vals, want in ((self.a, xs, self.m + xs), (self.b, xs, self.m + xs),
                              (self.c, toks, self.t + toks)):
            other: Any = (list(vals) if form == "list" else tuple(vals) if form == "tuple"
                          else KVec(v.elem, vals, kernel=self.k))
            self._check_new(v + other, v, want)
            if form == "vec":
                other.drop()
        assert [9] + self.a == [9] + self.m
        objs: list[object] = list(toks)
        assert _same(objs + self.c, objs + self.t)

    @rule(n=st.integers(0, 3), how=st.sampled_from(["mul", "rmul", "imul"]))
    def mul(self, n: int, how: str) -> None:
        if how == "imul":
            self.a *= n
            self.b *= n
            self.c *= n
            self._set(self.m * n, self.t * n)
            return
        for v, want in ((self.a, self.m * n), (self.b, self.m * n), (self.c, self.t * n)):
            self._check_new(v * n if how == "mul" else n * v, v, want)

    @rule()
    def copy(self) -> None:
        for v, want in ((self.a, self.m), (self.b, self.m), (self.c, self.t)):
            w = v.copy()
            assert w.capacity == len(v)
            self._check_new(w, v, want)

    @rule(xs=st.lists(SMALL_U32, max_size=6))
    def compare(self, xs: list[int]) -> None:
        for v in self._ints():
            other = VVec(u32, xs, kernel=self.k)
            for o in (xs, tuple(xs), other):
                assert (v < o) == (self.m < xs) and (v <= o) == (self.m <= xs)
                assert (v > o) == (self.m > xs) and (v >= o) == (self.m >= xs)
            other.drop()

    @rule()
    def reversed_(self) -> None:
        assert list(reversed(self.a)) == self.m[::-1] == list(reversed(self.b))
        assert _same(list(reversed(self.c)), self.t[::-1])

    @rule(xs=st.lists(SMALL_U32, max_size=12))
    def reinit(self, xs: list[int]) -> None:
        toks = [Token(x) for x in xs]
        for v, vals in ((self.a, xs), (self.b, xs), (self.c, toks)):
            target: Any = v
            target.__init__(v.elem, vals, kernel=self.k)
            assert v.elem in (u32, u64, pyobj) and type(v) in (KVec, VVec)
        self._set(list(xs), toks)

    @rule()
    def into_boxed_slice(self) -> None:
        boxes = [v.into_boxed_slice() for v in self._all()]
        assert boxes[0].value == self.m == boxes[1].value
        assert _same(boxes[2].value, self.t)
        for bx in boxes:
            bx._check()
        self.a = KVec(u32, boxes[0].value, kernel=self.k)
        self.b = VVec(u64, boxes[1].value, kernel=self.k)
        self.c = KVec(pyobj, boxes[2].value, kernel=self.k)
        for bx in boxes:
            bx.drop()

    @rule()
    def as_memoryview(self) -> None:
        for v in self._ints():
            if v._flat is None and len(v):
                with pytest.raises(BufferError, match="not physically contiguous"):
                    v.as_memoryview()
                continue
            mv = v.as_memoryview()
            assert mv.tolist() == self.m
            if len(v):
                self.views.append((v, v.stats.reallocs, v.ptr, v.capacity, mv))

    @invariant()
    def views_valid_or_released(self) -> None:
        """A view reads the live buffer until that buffer is resized, replaced or dropped;
        after that every use raises."""
        for v, reallocs, ptr, cap, mv in self.views:
            live = (v._state == 0 and (v is self.a or v is self.b) and v.stats.reallocs == reallocs
                    and v.ptr == ptr and v.capacity == cap)
            if live:
                assert mv.tolist() == v._load_many(len(mv), "check")
            else:
                with pytest.raises(ValueError, match="released memoryview"):
                    mv.tolist()

    # -- after every step ------------------------------------------------------------------

    @invariant()
    def same_contents(self) -> None:
        assert self.a.to_list() == self.m
        assert self.b.to_list() == self.m
        assert _same(self.c.to_list(), self.t)
        assert [x.n for x in self.t] == self.m
        for v in self._all():
            assert len(v) == len(self.m) <= v.capacity
            v._check()
        self.k.check()
        assert self.k.kasan_reports == []

    def teardown(self) -> None:
        for v in self._all():
            v.drop()
        assert self.k.stats().nr_vmalloc_pages == 0
        self.k.check()
        assert self.k.kasan_reports == []


TestVecApiMachine = machine_case(VecApiMachineBase, "off", 200, 30)
TestVecApiMachineKasanGeneric = machine_case(VecApiMachineBase, "generic", 60, 30)
TestVecApiMachineKasanSwTags = machine_case(VecApiMachineBase, "sw_tags", 60, 30)
