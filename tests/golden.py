"""Golden results: what the simulator computes on small sizes, kept to prove that speed work
changes no result.

:func:`snapshot` runs the growth study (every allocator, policy and profile, several
workloads, several vectors with churn) and a container script per profile, and returns every
row, a digest of every run's events, and the kernel's ``/proc/vmallocinfo``, ``meminfo`` and
stats text. ``tests/data/golden.json`` holds the snapshot of a tree whose results were checked
against independent arithmetic (tests/tools/test_study_columns.py); ``tests/test_golden.py``
compares. After a change that is *meant* to change results, regenerate it with
``python -m tests.golden --write`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from containers import KVVec, VVec, u64
from containers.growth import POLICIES
from kvalloc import Kernel, KernelConfig, KernelWarning
from kvalloc.config import VREALLOC_HISTORY
from kvalloc.tools.study import ALLOCS, growth_study

GOLDEN = Path(__file__).parent / "data" / "golden.json"
PROFILES = list(VREALLOC_HISTORY)
STUDIES: list[dict[str, Any]] = [
    {"elements": 3000, "workload": "push"},
    {"elements": 1500, "workload": "burst"},
    {"elements": 2000, "workload": "random", "seed": 3},
    {"elements": 2000, "workload": "bpf-insn-hist"},
    {"elements": 400, "workload": "push", "vectors": 3, "interleave": "random",
     "churn": "fix_size_alloc_test", "seed": 5},
]


def _digest(items: list[Any]) -> str:
    text = "\n".join(json.dumps(e, sort_keys=True) for e in items)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _container_script(profile: str) -> dict[str, Any]:
    """A mixed container run on one profile: the kernel's views of it at its peak and end."""
    k = Kernel(KernelConfig(vrealloc=profile, ram=1 << 28, seed=1))
    vv, kv = VVec(u64, kernel=k), KVVec(u64, kernel=k)
    for i in range(9000):
        vv.push(i)
        kv.push(i * 3)
    vv.truncate(1000)
    vv.shrink_to_fit()
    kv.extend_from_slice(list(range(5000)))
    kv.truncate(10)
    kv.shrink_to(100)
    vv.extend_from_slice(list(range(4000)))
    peak = {"vmallocinfo": k.vmallocinfo(), "meminfo": k.meminfo(),
            "stats": repr(k.stats()), "sum": sum(vv) + sum(kv)}
    vv.drop()
    kv.drop()
    k.check()
    return {"peak": peak, "end_stats": repr(k.stats()), "end_vmallocinfo": k.vmallocinfo()}


def snapshot() -> dict[str, Any]:
    """Every result the golden file keeps (a few seconds)."""
    out: dict[str, Any] = {"studies": [], "containers": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KernelWarning)
        for kw in STUDIES:
            rows, runs = growth_study(allocs=list(ALLOCS), policies=list(POLICIES),
                                      profiles=PROFILES, **kw)
            columns = list(rows[0])
            out["studies"].append({"args": kw, "columns": columns,
                                   "rows": [[r[c] for c in columns] for r in rows],
                                   "events": [_digest(r.events) for r in runs],
                                   "dmesg": [_digest(r.dmesg) for r in runs]})
        for p in PROFILES:
            out["containers"][p] = _container_script(p)
    plain: dict[str, Any] = json.loads(json.dumps(out))     # tuples as lists, as in the file
    return plain


def dumps(snap: dict[str, Any]) -> str:
    """The golden file's text: one study row per line, so a diff shows which row changed."""
    studies = []
    for st in snap["studies"]:
        rows = ",\n".join("  " + json.dumps(r) for r in st["rows"])
        head = json.dumps({k: v for k, v in st.items() if k != "rows"}, sort_keys=True)
        studies.append(head[:-1] + ', "rows": [\n' + rows + "\n]}")
    containers = json.dumps(snap["containers"], indent=1, sort_keys=True)
    return ('{"studies": [\n' + ",\n".join(studies) + '\n],\n"containers": ' + containers
            + "}\n")


def main(argv: list[str]) -> int:
    if argv[1:] != ["--write"]:
        print("usage: python -m tests.golden --write", file=sys.stderr)
        return 2
    GOLDEN.write_text(dumps(snapshot()))
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
