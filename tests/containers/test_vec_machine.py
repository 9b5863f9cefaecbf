"""KVec, VVec and a pyobj KVec against Python lists (a Hypothesis RuleBasedStateMachine)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from containers import InsertError, KVec, PushError, Vec, VVec, pyobj, u32, u64
from kvalloc import GFP, Kernel, KernelConfig, Kmalloc
from kvalloc.tools.bench import fragmented_kernel

from ..helpers import DUPLICATIONS, Token, duplicate

pytestmark = [pytest.mark.spec, pytest.mark.filterwarnings("ignore::kvalloc.KernelWarning")]


U32 = st.integers(0, 2**32 - 1)
SMALL = st.integers(-12, 12)




class VecMachineBase(RuleBasedStateMachine):
    """KVec[int] (u32), VVec[int] (u64) and KVec[object] (pyobj) side by side with lists."""

    kasan: Literal["off", "generic"] = "off"

    def __init__(self) -> None:
        super().__init__()
        self.k = Kernel(KernelConfig(kasan=self.kasan))
        self.a: KVec[int] = KVec(u32, kernel=self.k)
        self.b: VVec[int] = VVec(u64, kernel=self.k)
        # declared as the base class so that ``self.c += ...`` type-checks (see test_typing.py)
        self.c: Vec[object, Kmalloc] = KVec(pyobj, kernel=self.k)
        self.m: list[int] = []
        self.t: list[Token] = []                 # t[i].n == m[i]
        self.others: list[tuple[Kernel, int]] = []   # another user's areas

    # helpers
    def _all(self) -> list[Vec[Any, Any]]:
        return [self.a, self.b, self.c]

    def _norm(self, i: int) -> int:
        return i % len(self.m)

    def _push(self, x: int) -> None:
        self.a.push(x)
        self.b.push(x)
        tok = Token(x)
        self.c.push(tok)
        self.m.append(x)
        self.t.append(tok)

    # rules
    @rule(x=U32)
    def push(self, x: int) -> None:
        self._push(x)

    @rule(x=U32)
    def append(self, x: int) -> None:
        self.a.append(x)
        self.b.append(x)
        tok = Token(x)
        self.c.append(tok)
        self.m.append(x)
        self.t.append(tok)

    @rule(xs=st.lists(U32, max_size=12))
    def extend(self, xs: list[int]) -> None:
        self.a.extend(xs)
        self.b.extend_from_slice(xs)
        toks = [Token(x) for x in xs]
        self.c += toks
        self.m.extend(xs)
        self.t.extend(toks)

    @rule(i=st.integers(-20, 20), x=U32)
    def insert(self, i: int, x: int) -> None:
        self.a.insert(i, x)
        self.b.insert(i, x)
        tok = Token(x)
        self.c.insert(i, tok)
        self.m.insert(i, x)
        self.t.insert(i, tok)

    @rule(i=st.integers(-20, 20), x=U32)
    def insert_within_capacity(self, i: int, x: int) -> None:
        n, cap = len(self.m), self.a.capacity
        if not 0 <= i <= n:
            reason = "index_out_of_bounds"
        elif n == cap:
            reason = "out_of_capacity"
        else:
            reason = ""
        tok = Token(x)
        targets: list[tuple[Vec[Any, Any], object]] = [(self.a, x), (self.b, x), (self.c, tok)]
        for v, val in targets:
            if reason:
                with pytest.raises(InsertError) as ei:
                    v.insert_within_capacity(i, val)
                assert ei.value.reason == reason and ei.value.value is val
            else:
                v.insert_within_capacity(i, val)
        if not reason:
            self.m.insert(i, x)
            self.t.insert(i, tok)

    @rule(x=U32)
    def push_within_capacity(self, x: int) -> None:
        full = len(self.m) == self.a.capacity
        tok = Token(x)
        targets: list[tuple[Vec[Any, Any], object]] = [(self.a, x), (self.b, x), (self.c, tok)]
        for v, val in targets:
            if full:
                with pytest.raises(PushError) as ei:
                    v.push_within_capacity(val)
                assert ei.value.value is val
            else:
                v.push_within_capacity(val)
        if not full:
            self.m.append(x)
            self.t.append(tok)

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(-50, 50), default=st.booleans())
    def pop(self, i: int, default: bool) -> None:
        if default:
            want = self.m.pop()
            assert self.a.pop() == want and self.b.pop() == want
            assert self.c.pop() is self.t.pop()
        else:
            j = self._norm(i) - (len(self.m) if i < 0 else 0)
            want = self.m.pop(j)
            assert self.a.pop(j) == want and self.b.pop(j) == want
            assert self.c.pop(j) is self.t.pop(j)

    @rule(i=st.integers(-50, 50))
    def pop_out_of_range(self, i: int) -> None:
        if -len(self.m) <= i < len(self.m):
            return
        for v in self._all():
            with pytest.raises(IndexError):
                v.pop(i)

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(-50, 50), x=U32)
    def setitem(self, i: int, x: int) -> None:
        j = self._norm(i)
        tok = Token(x)
        self.a[j] = x
        self.b[j - len(self.m)] = x
        self.c[j] = tok
        self.m[j] = x
        self.t[j] = tok

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(-50, 50))
    def delitem(self, i: int) -> None:
        j = self._norm(i)
        del self.a[j]
        del self.b[j]
        del self.c[j - len(self.m)]
        del self.m[j]
        del self.t[j]

    @rule(start=SMALL, stop=SMALL, step=st.integers(1, 3))
    def getslice(self, start: int, stop: int, step: int) -> None:
        sl = slice(start, stop, step)
        sa, sb, sc = self.a[sl], self.b[sl], self.c[sl]
        assert type(sa) is KVec and type(sb) is VVec and type(sc) is KVec
        assert sa.to_list() == self.m[sl] and sb == self.m[sl]
        assert [x is y for x, y in zip(sc, self.t[sl])] == [True] * len(self.t[sl])
        sa.drop()
        sb.drop()
        sc.drop()

    @rule(start=SMALL, stop=SMALL, step=st.integers(1, 3))
    def delslice(self, start: int, stop: int, step: int) -> None:
        sl = slice(start, stop, step)
        del self.a[sl]
        del self.b[sl]
        del self.c[sl]
        del self.m[sl]
        del self.t[sl]

    @rule(start=SMALL, stop=SMALL, xs=st.lists(U32, max_size=6))
    def setslice(self, start: int, stop: int, xs: list[int]) -> None:
        sl = slice(start, stop)
        toks = [Token(x) for x in xs]
        self.a[sl] = xs
        self.b[sl] = xs
        self.c[sl] = toks
        self.m[sl] = xs
        self.t[sl] = toks

    @rule(n=st.integers(0, 30))
    def truncate(self, n: int) -> None:
        for v in self._all():
            v.truncate(n)
        del self.m[n:]
        del self.t[n:]

    @rule()
    def clear(self) -> None:
        caps = [v.capacity for v in self._all()]
        for v in self._all():
            v.clear()
        assert [v.capacity for v in self._all()] == caps
        self.m.clear()
        self.t.clear()

    @rule(n=st.integers(0, 30), x=U32)
    def resize(self, n: int, x: int) -> None:
        tok = Token(x)
        self.a.resize(n, x)
        self.b.resize(n, x)
        self.c.resize(n, tok)
        if n <= len(self.m):
            del self.m[n:]
            del self.t[n:]
        else:
            self.t.extend([tok] * (n - len(self.m)))
            self.m.extend([x] * (n - len(self.m)))

    @rule(n=st.integers(0, 40))
    def reserve(self, n: int) -> None:
        for v in self._all():
            cap = v.capacity
            v.reserve(n)
            assert v.capacity >= len(self.m) + n and v.capacity >= cap
            if cap - len(self.m) >= n:
                assert v.capacity == cap

    @rule(n=st.integers(0, 40))
    def shrink_to(self, n: int) -> None:
        for v in self._all():
            cap = v.capacity
            v.shrink_to(n)
            assert v.capacity == min(cap, max(len(self.m), n))

    @rule()
    def shrink_to_fit(self) -> None:
        for v in self._all():
            v.shrink_to_fit()
            assert v.capacity == len(self.m)

    @rule()
    def reverse(self) -> None:
        for v in self._all():
            v.reverse()
        self.m.reverse()
        self.t.reverse()

    @rule(mod=st.integers(1, 4))
    def retain(self, mod: int) -> None:
        self.a.retain(lambda x: x % mod == 0)
        self.b.retain(lambda x: x % mod == 0)
        self.c.retain(lambda o: isinstance(o, Token) and o.n % mod == 0)
        keep = [i for i, x in enumerate(self.m) if x % mod == 0]
        self.m = [self.m[i] for i in keep]
        self.t = [self.t[i] for i in keep]

    @rule()
    def drain_all(self) -> None:
        assert list(self.a.drain_all()) == self.m
        assert list(self.b.drain_all()) == self.m
        drained = list(self.c.drain_all())
        assert len(drained) == len(self.t) and all(x is y for x, y in zip(drained, self.t))
        self.m.clear()
        self.t.clear()

    @precondition(lambda self: bool(self.m))
    @rule(i=st.integers(0, 100))
    def remove_index_count(self, i: int) -> None:
        x = self.m[i % len(self.m)]
        first = self.m.index(x)
        assert self.a.index(x) == first and self.b.index(x) == first
        assert self.a.count(x) == self.m.count(x) == self.b.count(x)
        assert self.c.index(self.t[first]) == first
        assert x in self.a and self.t[first] in self.c
        self.a.remove(x)
        self.b.remove(x)
        self.c.remove(self.t[first])
        del self.m[first]
        del self.t[first]

    @rule(x=st.one_of(st.integers(2**64, 2**70), st.integers(-2**70, -1)))
    def push_out_of_range(self, x: int) -> None:
        for v in (self.a, self.b):
            with pytest.raises(OverflowError):
                v.push(x)
            if self.m:
                with pytest.raises(OverflowError):
                    v[0] = x
        with pytest.raises(OverflowError):
            self.a.push(2**32)

    @rule(size=st.integers(1, 3 * 4096), keep=st.booleans())
    def another_user_vmallocs(self, size: int, keep: bool) -> None:
        """Someone else's vmalloc (and vfree) on each vector's kernel: with KASAN on, the
        shadow changes, which turns every push fast path off until its next checked push."""
        for k in {id(v._kernel): v._kernel for v in self._all()}.values():
            p = k.vmalloc(size)
            assert p is not None
            if keep:
                self.others.append((k, p))
            else:
                k.vfree(p)
        if self.kasan != "off":
            for v in self._all():
                assert GFP.KERNEL not in (v._push_flags, v._push_run_flags)
        self._push(size)

    @precondition(lambda self: self.others)
    @rule()
    def another_user_vfrees(self) -> None:
        k, p = self.others.pop(0)
        k.vfree(p)
        self._push(0)

    @rule(how=st.sampled_from(DUPLICATIONS), drop_original=st.booleans())
    def duplicate(self, how: str, drop_original: bool) -> None:
        """A copy is an independent owner: dropping either side leaves the other intact."""
        before = self.k.stats().nr_vmalloc_pages
        for name in ("a", "b", "c"):
            v: Vec[Any, Any] = getattr(self, name)
            if how == "pickle" and name == "c":
                continue                            # Token is not picklable by design here
            w = duplicate(v, how)
            assert type(w) is type(v) and len(w) == len(v)
            if how == "pickle":
                assert w.to_list() == v.to_list()
                w.drop()
                continue
            assert w.ptr != v.ptr or w.capacity == 0
            assert w.capacity == len(v)
            if name == "c":
                same = [x is y for x, y in zip(w.to_list(), self.t)]
                assert all(same) if how != "deepcopy" else not any(same)
            else:
                assert w.to_list() == self.m
            w._check()
            if drop_original:
                v.drop()
                w._check()
                setattr(self, name, w)
                if name == "c" and how == "deepcopy":
                    self.t = list(w.to_list())
            else:
                w.drop()
            self.k.check()
        if not drop_original:
            assert self.k.stats().nr_vmalloc_pages == before

    @invariant()
    def same_contents(self) -> None:
        assert self.a.to_list() == self.m
        assert self.b.to_list() == self.m
        assert self.a == self.b
        got = self.c.to_list()
        assert len(got) == len(self.t) and all(x is y for x, y in zip(got, self.t))
        for v in self._all():
            assert len(v) == len(self.m) <= v.capacity
            v._check()
        # growth is the policy's decision, not the allocator's
        assert self.a.capacity == self.b.capacity == self.c.capacity
        self.k.check()
        assert self.k.kasan_reports == []

    def teardown(self) -> None:
        for v in self._all():
            v.drop()
        for k, p in self.others:
            k.vfree(p)
        assert self.k.stats().nr_vmalloc_pages == 0
        self.k.check()


def machine_case(base: type[RuleBasedStateMachine], kasan: Literal["off", "generic", "sw_tags"],
                 examples: int, steps: int) -> Any:
    """The pytest-collected TestCase of ``base`` (a machine with a ``kasan`` class attribute)
    run with ``kasan``, ``examples`` examples of at most ``steps`` steps each."""
    suffix = {"off": "", "generic": "Kasan", "sw_tags": "KasanSwTags"}[kasan]
    machine: Any = type(base.__name__ + suffix, (base,), {"kasan": kasan})
    case = machine.TestCase
    case.settings = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                             suppress_health_check=list(HealthCheck))
    return case


TestVecMachine = machine_case(VecMachineBase, "off", 200, 50)
TestVecMachineKasan = machine_case(VecMachineBase, "generic", 60, 50)


class VecMachinePagedBase(VecMachineBase):
    """The same, with the VVec on a kernel where its frames are never adjacent (the paged
    path: per-run reads and writes, push runs) and bulk steps that cross pages."""

    def __init__(self) -> None:
        super().__init__()
        self.b.drop()
        self.kb = fragmented_kernel(16 << 20, self.kasan)
        self.b = VVec(u64, kernel=self.kb)

    @rule(n=st.integers(300, 1500), x=U32)
    def extend_many(self, n: int, x: int) -> None:
        xs = [(x + i) % 2**32 for i in range(n)]
        self.a.extend(xs)
        self.b.extend_from_slice(xs)
        toks = [Token(v) for v in xs]
        self.c.extend(toks)
        self.m.extend(xs)
        self.t.extend(toks)

    @rule(n=st.integers(1, 1200))
    def push_many(self, n: int) -> None:
        for i in range(n):
            self._push(i)

    @invariant()
    def paged_and_clean(self) -> None:
        if self.b.capacity > 512:
            assert self.b._flat is None
        self.kb.check()
        assert self.kb.kasan_reports == []

    def teardown(self) -> None:
        super().teardown()
        assert self.kb.stats().nr_vmalloc_pages == 0
        self.kb.check()


TestVecMachinePaged = machine_case(VecMachinePagedBase, "off", 40, 30)
TestVecMachinePagedKasan = machine_case(VecMachinePagedBase, "generic", 15, 30)
