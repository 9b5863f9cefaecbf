"""The ``kvalloc`` command line (also ``python -m kvalloc``); docs/guide.md#command-line.

Argument errors exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from .. import __version__
from ..config import KernelConfig

if TYPE_CHECKING:
    from ..cost_model import CostModel


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
    from ..kernel import Kernel
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


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _check_output(option: str, path: str | None) -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    if path is None or path == "-":
        return
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a directory")
    if not os.path.isdir(parent):
        raise ValueError(f"{option} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path}: directory {parent} is not writable")


@contextlib.contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """``path`` opened for writing, or standard output for ``-``."""
    if path == "-":
        yield sys.stdout
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        yield f


def _write_rows(rows: list[dict[str, object]], columns: Sequence[str], json_path: str | None,
                csv_path: str | None) -> None:
    import csv
    import json
    if json_path:
        with _output(json_path) as f:
            json.dump(rows, f, indent=1)
            f.write("\n")
    if csv_path:
        with _output(csv_path) as f:
            w = csv.DictWriter(f, fieldnames=list(columns))
            w.writeheader()
            w.writerows(rows)


def _cmd_study(args: argparse.Namespace) -> int:
    from .study import (
        GROWTH_COLUMNS,
        SHRINK_COLUMNS,
        dmesg_lines,
        explain,
        format_growth,
        format_table,
        growth_study,
        parse_sweep,
        profile_width,
        shrink_study,
        summary_lines,
        sweep_points,
        table_header,
        table_line,
        write_events,
    )
    for option in ("json", "csv", "events", "plot", "plot_timeline", "dmesg"):
        _check_output(f"--{option.replace('_', '-')}", getattr(args, option, None))
    if args.study == "shrink":
        profiles = _split(args.profile) if args.profile else None
        rows = shrink_study(args.from_size, args.to_size, *([profiles] if profiles else []))
        print(format_table(rows, SHRINK_COLUMNS), end="")
        _write_rows(rows, SHRINK_COLUMNS, args.json, args.csv)
        return 0
    if args.explain:
        print(explain(), end="")
        return 0
    _check_plots(("--plot", args.plot), ("--plot-timeline", args.plot_timeline))
    sweep = sweep_points(*parse_sweep(args.sweep)) if args.sweep else None
    cost = _cost_model(args.cost_model)
    elem = f"{args.elem_size}B" if args.elem_size else args.elem
    to_stdout = "-" in (args.json, args.csv, args.events)
    table = not to_stdout and not args.wide
    profiles = _split(args.profile or "latest")
    width = profile_width(profiles)
    bar = _progress_bar(args.quiet)
    finished: list[dict[str, object]] = []
    runs_done: list[Any] = []

    def on_rows(rows: list[dict[str, Any]], run: Any) -> None:
        finished.extend(rows)
        runs_done.append(run)
        if table:
            _write_above(bar, "\n".join(table_line(r, width) for r in rows))

    started = False

    def progress(done: int, total: int, label: str) -> None:
        nonlocal started
        if table and not started:       # once the arguments were found valid
            print(table_header(width), flush=True)
        started = True
        if bar is not None:
            bar(done, total, label)

    interrupted = False
    try:
        growth_study(args.elements, elem, _split(args.alloc), _split(args.policy),
                     profiles, progress=progress, sweep=sweep,
                     workload=args.workload, vectors=args.vectors, interleave=args.interleave,
                     seed=args.seed, churn=args.churn, churn_steps=args.churn_steps,
                     background=args.background, on_rows=on_rows,
                     keep_events=bool(args.events or args.plot or args.plot_timeline),
                     cost=cost, jobs=args.jobs)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    rows = cast("list[dict[str, Any]]", finished)
    if table:
        print("\n".join(summary_lines(rows)))
    elif not to_stdout:
        print(format_growth(rows, wide=True), end="")
    _write_rows(finished, GROWTH_COLUMNS, args.json, args.csv)
    if args.events:
        with _output(args.events) as f:
            write_events(runs_done, f)
    log = dmesg_lines(runs_done)
    if args.dmesg:
        with _output(args.dmesg) as f:
            f.write("".join(line + "\n" for line in log))
    if log and not to_stdout:
        n = sum(1 for r in runs_done if r.dmesg)
        where = f"written to {args.dmesg}" if args.dmesg else "--dmesg FILE keeps it"
        print(f"kernel log: {len(log) - n} lines from {n} run{'s' if n > 1 else ''} ({where})")
    from .plot import plot_runs, plot_sweep, plot_timeline
    if args.plot and rows:
        if sweep:
            plot_sweep(rows, args.plot)
        else:
            plot_runs(runs_done, args.plot)
        if not to_stdout:
            print(f"plot written to {args.plot}")
    if args.plot_timeline and runs_done:
        plot_timeline(runs_done[0], args.plot_timeline)
        if not to_stdout:
            s0 = runs_done[0].spec
            print(f"address-space timeline of {s0.alloc}/{s0.policy} written to "
                  f"{args.plot_timeline}")
    if interrupted:
        sys.stderr.write(f"kvalloc: interrupted; {len(runs_done)} configurations finished "
                         "and kept\n")
        return 130
    return 0


def _check_plots(*options: tuple[str, str | None]) -> None:
    """Each figure path given has a known format, and matplotlib is there to draw it."""
    if not any(path for _, path in options):
        return
    from .plot import check_path
    for option, path in options:
        if path:
            check_path(path, option)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'kvalloc[plot]' "
                         "(from a checkout: pip install '.[plot]')") from None


def _cost_model(path: str) -> CostModel:
    from kvalloc.cost_model import CostModel
    try:
        return CostModel.default() if path == "default" else CostModel.from_file(path)
    except OSError as e:
        raise ValueError(f"--cost-model {path}: {e.strerror}") from None


def _cmd_whatif(args: argparse.Namespace) -> int:
    from .whatif import COLUMNS, format_whatif, whatif_study
    for option in ("json", "csv", "plot"):
        _check_output(f"--{option}", getattr(args, option))
    _check_plots(("--plot", args.plot))
    cost = _cost_model(args.cost_model)
    bar = _progress_bar(args.quiet)
    try:
        rows = whatif_study(_split(args.profile), _split(args.case), args.elements, cost,
                            progress=bar)
    finally:
        if bar is not None:
            bar.close()
    to_stdout = "-" in (args.json, args.csv)
    if not to_stdout:
        print(format_whatif(rows), end="")
    _write_rows(cast("list[dict[str, object]]", rows), COLUMNS, args.json, args.csv)
    if args.plot:
        from .plot import plot_whatif
        plot_whatif(rows, args.plot)
        if not to_stdout:
            print(f"plot written to {args.plot}")
    return 0


class _Bar(Protocol):
    def __call__(self, done: int, total: int, label: str) -> None: ...
    def close(self) -> None: ...
    def write(self, text: str) -> None: ...


def _progress_bar(quiet: bool) -> _Bar | None:
    """A tqdm bar with count and ETA over the configurations, on a terminal only."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    class Bar:
        def __init__(self) -> None:
            self.bar: Any = None

        def __call__(self, done: int, total: int, label: str) -> None:
            if self.bar is None:
                self.bar = tqdm(total=total, unit="run", file=sys.stderr, leave=False,
                                dynamic_ncols=True)
            self.bar.n = done
            self.bar.set_postfix_str(label, refresh=True)

        def write(self, text: str) -> None:
            if self.bar is None:
                print(text, flush=True)
            else:
                self.bar.write(text, file=sys.stdout)

        def close(self) -> None:
            if self.bar is not None:
                self.bar.close()
    return Bar()


def _write_above(bar: _Bar | None, text: str) -> None:
    """Print ``text`` on standard output, above the progress bar if there is one."""
    if bar is None:
        print(text, flush=True)
    else:
        bar.write(text)


def _cmd_profiles(args: argparse.Namespace) -> int:
    from kvalloc.profiles import KERNEL_PROFILES, WHATIFS, resolve_profile

    from .study import profile_alias
    extra = [resolve_profile(name) for name in _split(args.extra)] if args.extra else []
    print(f"{'#':>2}  {'name':<12}  {'alias':<7}  {'kernel':<10}  {'kind':<7}  what it does")
    for p in KERNEL_PROFILES:
        print(f"{p.number:>2}  {p.commit:<12}  {profile_alias(p.commit):<7}  {p.version:<10}  "
              f"{'kernel':<7}  {p.description}")
    print("\nWhat-ifs: changes no kernel commit has made, each on the commit named as its base "
          "(docs/whatif.md)")
    for p in (*WHATIFS, *(x for x in extra if x.kind == "what-if" and x not in WHATIFS)):
        print(f"{'':>2}  {p.name:<12}  {'':<7}  {'on ' + (profile_alias(p.base) or p.base):<10}  "
              f"{'what-if':<7}  {p.description}")
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


def _duration(secs: float) -> str:
    """``42 s``, ``3 min``, ``1.5 h``."""
    if secs < 90:
        return f"{secs:.0f} s"
    if secs < 5400:
        return f"{secs / 60:.0f} min"
    return f"{secs / 3600:.1f} h"


def _cmd_test_vmalloc(args: argparse.Namespace) -> int:
    import time

    from ..kernel import Kernel
    from .lib_test_vmalloc import estimate_seconds, run_test_vmalloc
    k = Kernel(KernelConfig(kasan=args.kasan, vrealloc=args.profile, cpus=args.cpus))
    nr_threads = args.nr_threads
    show = _progress()
    before = len(k.dmesg)
    params = {"run_test_mask": args.run_test_mask, "nr_threads": nr_threads,
              "test_repeat_count": args.test_repeat_count,
              "test_loop_count": args.test_loop_count, "nr_pages": args.nr_pages,
              "use_huge": args.use_huge}
    if args.test_loop_count > 10_000:
        secs = estimate_seconds(k, **params)
        if secs > 30:
            sys.stderr.write(f"test-vmalloc: this will take about {_duration(secs)} here "
                             "(--test-loop-count sets the loops; Ctrl-C stops)\n")
    started = time.perf_counter()

    def tell(text: str) -> None:
        assert show is not None
        show(f"{text} ({_duration(time.perf_counter() - started)} so far)")

    try:
        results = run_test_vmalloc(
            k, sequential_test_order=args.sequential_test_order,
            progress=None if show is None else tell, clock=time.perf_counter_ns, **params)
    except KeyboardInterrupt:
        if show is not None:
            sys.stderr.write("\r\033[K")
        sys.stderr.write("kvalloc: interrupted; test-vmalloc prints its Summary lines only "
                         "when every test has run\n")
        return 130
    if show is not None:
        sys.stderr.write("\r\033[K")
    k.check()
    print("\n".join(k.dmesg[before:]))
    return 1 if any(r.failed for r in results) else 0


_JSON_HELP = "every row, every column, as a JSON list (- for standard output)"
_CSV_HELP = "every row, every column, as CSV (- for standard output)"


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-command per job."""
    from .workloads import WORKLOADS
    p = _Parser(prog="kvalloc", description="Simulate and study the Linux kernel's vmalloc.")
    p.add_argument("--version", action="version", version=f"kvalloc {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("vmallocinfo", help="run a workload and print /proc/vmallocinfo and meminfo")
    v.add_argument("--workload", choices=sorted(WORKLOADS), default="demo",
                   help="the allocations made before the views are printed (default demo)")
    v.add_argument("--kasan", choices=["off", "generic", "sw_tags"], default="off",
                   help="KASAN mode of the simulated kernel (default off)")
    v.set_defaults(func=_cmd_vmallocinfo)
    st = sub.add_parser("study", help="growth and shrink studies")
    stsub = st.add_subparsers(dest="study", required=True, parser_class=_Parser)
    g = stsub.add_parser("growth", help="push N elements through each allocator, policy and profile")
    g.add_argument("--elements", type=int, default=50_000, metavar="N",
                   help="elements each vector ends with (default 50000; --sweep runs to its STOP instead)")
    g.add_argument("--elem", default="u64", help="element type: u8 ... u64, i8 ... i64, f32, f64")
    g.add_argument("--elem-size", type=int, default=None, metavar="BYTES",
                   help="an opaque element of BYTES bytes instead of --elem (e.g. 16, 24)")
    g.add_argument("--alloc", default="kmalloc,vmalloc,kvmalloc",
                   help="comma list of kmalloc, vmalloc, kvmalloc, moveonly (the never-in-place baseline)")
    g.add_argument("--policy", default="rust_kvec,cpython_list,factor_1_5,exact",
                   help="comma list of rust_kvec, rust_std, cpython_list, factor_1_5, exact")
    g.add_argument("--profile", default="latest",
                   help="comma list of vrealloc commits, aliases, what-ifs (kvalloc profiles) "
                        "or module:NAME")
    g.add_argument("--json", metavar="FILE", help=_JSON_HELP)
    g.add_argument("--csv", metavar="FILE", help=_CSV_HELP)
    g.add_argument("--workload", default="push", metavar="NAME|FILE",
                   help="push (default), burst, sawtooth, bpf-insn-hist, random, or a trace file "
                        "(docs/workloads.md)")
    g.add_argument("--vectors", type=int, default=1, metavar="K",
                   help="K vectors run the workload side by side in one kernel")
    g.add_argument("--interleave", choices=["round-robin", "random"], default="round-robin",
                   help="with --vectors: one step of each in turn (default), or a seeded "
                        "random vector each step")
    g.add_argument("--seed", type=int, default=0, help="for random workloads, interleaving, churn")
    g.add_argument("--churn", default="", metavar="CASE",
                   help="a lib/test_vmalloc.c-style background between reallocations, e.g. "
                        "random_size_alloc_test")
    g.add_argument("--churn-steps", type=int, default=4, metavar="N",
                   help="background operations after each reallocation (default 4)")
    g.add_argument("--background", default="", metavar="VMALLOCINFO",
                   help="recreate this /proc/vmallocinfo's areas first (a busy address space)")
    g.add_argument("--events", metavar="FILE",
                   help="every reallocation as JSON Lines (- for standard output)")
    g.add_argument("--sweep", metavar="START:STOP:POINTS",
                   help="rows at POINTS log-spaced N from START to STOP, from one run each")
    g.add_argument("--wide", action="store_true", help="print every column")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--dmesg", metavar="FILE", help="write the kernel log of every run to FILE")
    g.add_argument("--cost-model", default="default", metavar="default|FILE",
                   help="the ns per unit of work behind the est_* columns: the defaults, or a "
                        "TOML or JSON file of overrides (docs/cost_model.md)")
    g.add_argument("--jobs", type=int, default=0, metavar="J",
                   help="worker processes for the runs (default 0: one per CPU; 1: no workers); "
                        "the results are the same")
    g.add_argument("--explain", action="store_true", help="what every column means, then exit")
    g.add_argument("--plot", metavar="FILE",
                   help="a figure (.png, .svg or .pdf; needs matplotlib): with --sweep, copies per "
                        "element, worst copy and overhead against N; else cumulative copies")
    g.add_argument("--plot-timeline", metavar="FILE",
                   help="the address space over time of the first configuration")
    g.set_defaults(func=_cmd_study)
    from .whatif import CASE_NAMES, WHATIF_NAMES
    w = stsub.add_parser("whatif", help="is my vrealloc idea worth a patch? latest against "
                                        "each what-if on a set of workloads")
    w.add_argument("--profile", default=",".join(WHATIF_NAMES),
                   help="comma list of what-ifs (or module:NAME), each compared with latest")
    w.add_argument("--case", default=",".join(CASE_NAMES),
                   help="comma list of workload cases (default: all): " + ", ".join(CASE_NAMES))
    w.add_argument("--elements", type=int, default=None, metavar="N",
                   help="N for every case instead of each case's own")
    w.add_argument("--cost-model", default="default", metavar="default|FILE",
                   help="the ns per unit of work behind est time: the defaults, or a TOML or "
                        "JSON file of overrides (docs/cost_model.md)")
    w.add_argument("--json", metavar="FILE", help=_JSON_HELP)
    w.add_argument("--csv", metavar="FILE", help=_CSV_HELP)
    w.add_argument("--plot", metavar="FILE",
                   help="a figure (.png, .svg or .pdf): each what-if's estimated time and bytes "
                        "copied against latest, per case")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.set_defaults(func=_cmd_whatif)
    sh = stsub.add_parser("shrink", help="vmalloc(--from), vrealloc to --to, grow back; per profile")
    sh.add_argument("--from", dest="from_size", type=parse_size, default=256 << 10, metavar="SIZE",
                   help="the size first vmalloc'd and grown back to: bytes, or 16K, 2M, 1G "
                        "(default 256K)")
    sh.add_argument("--to", dest="to_size", type=parse_size, default=16 << 10, metavar="SIZE",
                   help="the size vrealloc shrinks to (default 16K)")
    sh.add_argument("--profile", default="", help="comma list (default: every commit)")
    sh.add_argument("--json", metavar="FILE", help=_JSON_HELP)
    sh.add_argument("--csv", metavar="FILE", help=_CSV_HELP)
    sh.set_defaults(func=_cmd_study)
    from .lib_test_vmalloc import TEST_CASES
    ids = ", ".join(f"{1 << i} {name}{'' if fn else ' (skipped)'}"
                    for i, (name, fn, _) in enumerate(TEST_CASES))
    t = sub.add_parser("test-vmalloc", help="run the lib/test_vmalloc.c workloads",
                       description="The lib/test_vmalloc.c stress tests on a simulated kernel; "
                                   "the options are the module's parameters.")
    t.add_argument("--run-test-mask", type=int, default=7, metavar="M",
                   help=f"the tests to run, one bit per test id (run_test_mask; default 7, "
                        f"the first three): {ids}")
    t.add_argument("--nr-threads", type=int, default=0, metavar="N",
                   help="workers: the module's nr_threads, clamped to [1, 65535] (default 0: "
                        "one worker)")
    t.add_argument("--test-loop-count", type=int, default=1000000, metavar="L",
                   help="iterations of each test (test_loop_count; default 1000000)")
    t.add_argument("--test-repeat-count", type=int, default=1, metavar="R",
                   help="runs of each test (test_repeat_count; default 1)")
    t.add_argument("--nr-pages", type=int, default=0, metavar="P",
                   help="pages of each fix_size_alloc_test allocation (nr_pages; default 0: one)")
    t.add_argument("--use-huge", action="store_true",
                   help="fix_size_alloc_test allocates with vmalloc_huge (use_huge)")
    t.add_argument("--sequential-test-order", action="store_true",
                   help="run the tests in id order instead of shuffled (sequential_test_order)")
    t.add_argument("--cpus", type=int, default=2, help="CPUs of the simulated kernel (default 2)")
    t.add_argument("--kasan", choices=["off", "generic", "sw_tags"], default="off",
                   help="KASAN mode of the simulated kernel (default off)")
    t.add_argument("--profile", default="latest",
                   help="vrealloc profile (commit, alias, what-if or module:NAME)")
    t.set_defaults(func=_cmd_test_vmalloc)
    pr = sub.add_parser("profiles", help="list the vrealloc profiles: kernel commits, then what-ifs")
    pr.add_argument("extra", nargs="?", default="",
                    help="comma list of module:NAME what-ifs to list as well")
    pr.set_defaults(func=_cmd_profiles)
    b = sub.add_parser("bench", help="run the benchmarks (ratios against in-process baselines)")
    b.add_argument("--json", metavar="FILE",
                   help="also write every metric, its goal and the machine as JSON "
                        "(benchmarks/results/ holds such files)")
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
    except BrokenPipeError:                       # `kvalloc ... | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
