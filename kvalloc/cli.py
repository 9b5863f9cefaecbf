"""The ``kvalloc`` command line (also ``python -m kvalloc``); API.md section 8.

Argument errors exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .config import KernelConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:   # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_size(text: str) -> int:
    """``16K``, ``256K``, ``2M``, ``1G`` or plain bytes.

    >>> parse_size("256K"), parse_size("2M"), parse_size("4096")
    (262144, 2097152, 4096)
    """
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    if t and t[-1] in units:
        mult, t = units[t[-1]], t[:-1]
    try:
        value = int(t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (use e.g. 4096, 16K, 2M)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"size must not be negative: {text!r}")
    return value


def _cmd_vmallocinfo(args: argparse.Namespace) -> int:
    from .kernel import Kernel
    from .workloads import WORKLOADS
    k = Kernel(KernelConfig(kasan=args.kasan))
    WORKLOADS[args.workload](k)
    k.check()
    print("$ cat /proc/vmallocinfo")
    print(k.vmallocinfo(), end="")
    print("$ cat /proc/meminfo")
    print(k.meminfo(), end="")
    print("$ cat /proc/buddyinfo")
    print(k.buddyinfo(), end="")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main
    argv = ["--json", args.json] if args.json else []
    if args.quick:
        argv.append("--quick")
    return bench_main(argv)


def _progress() -> Callable[[str], None] | None:
    """A one-line progress printer on a terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(text: str) -> None:
        sys.stderr.write(f"\r\033[K{text}")
        sys.stderr.flush()
    return show


def _cmd_test_vmalloc(args: argparse.Namespace) -> int:
    from .kernel import Kernel
    from .vmalloc_test import run_test_vmalloc
    k = Kernel(KernelConfig(kasan=args.kasan, vrealloc=args.profile, cpus=args.cpus))
    nr_threads = args.cpus if args.nr_threads is None else args.nr_threads
    show = _progress()
    before = len(k.dmesg)
    results = run_test_vmalloc(
        k, run_test_mask=args.run_test_mask, nr_threads=nr_threads,
        sequential_test_order=args.sequential_test_order, test_repeat_count=args.test_repeat_count,
        test_loop_count=args.test_loop_count, nr_pages=args.nr_pages, use_huge=args.use_huge,
        progress=show)
    if show is not None:
        sys.stderr.write("\r\033[K")
    k.check()
    print("\n".join(k.dmesg[before:]))
    return 1 if any(r.failed for r in results) else 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-command per job."""
    from .workloads import WORKLOADS
    p = _Parser(prog="kvalloc", description="Simulate and study the Linux kernel's vmalloc.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("vmallocinfo", help="run a workload and print /proc/vmallocinfo and meminfo")
    v.add_argument("--workload", choices=sorted(WORKLOADS), default="demo")
    v.add_argument("--kasan", choices=["off", "generic", "sw_tags"], default="off")
    v.set_defaults(func=_cmd_vmallocinfo)
    t = sub.add_parser("test-vmalloc", help="run the lib/test_vmalloc.c workloads")
    t.add_argument("--run-test-mask", type=int, default=7, metavar="M")
    t.add_argument("--nr-threads", type=int, default=None, metavar="N",
                   help="workers (default: --cpus)")
    t.add_argument("--test-loop-count", type=int, default=1000000, metavar="L")
    t.add_argument("--test-repeat-count", type=int, default=1, metavar="R")
    t.add_argument("--nr-pages", type=int, default=0, metavar="P")
    t.add_argument("--use-huge", action="store_true")
    t.add_argument("--sequential-test-order", action="store_true")
    t.add_argument("--cpus", type=int, default=2)
    t.add_argument("--kasan", choices=["off", "generic", "sw_tags"], default="off")
    t.add_argument("--profile", default="latest", help="vrealloc profile (commit or alias)")
    t.set_defaults(func=_cmd_test_vmalloc)
    b = sub.add_parser("bench", help="run the benchmarks (ratios against in-process baselines)")
    b.add_argument("--json", metavar="FILE")
    b.add_argument("--quick", action="store_true", help="a fast smoke run")
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kvalloc`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ValueError, TypeError) as e:          # a bad value caught below argparse
        parser.exit(2, f"kvalloc: error: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
