"""The growth study's figures (kvalloc.tools.plot): the files they write, the pure helpers
behind them (merging identical lines, the fixed colours and styles), and their input checks."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from kvalloc.tools import plot
from kvalloc.tools.study import Run, RunSpec, growth_study, run_growth, sweep_points

LATEST = "e64f42036ef4"
MAGIC: dict[str, Callable[[bytes], bool]] = {
    ".png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    ".svg": lambda b: b"<svg" in b[:4096],
    ".pdf": lambda b: b.startswith(b"%PDF"),
}


@pytest.fixture(scope="module")
def mpl() -> Any:
    return pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def sweep() -> tuple[list[dict[str, Any]], list[Run]]:
    return growth_study(allocs=["kmalloc", "vmalloc", "kvmalloc", "moveonly"],
                        policies=["rust_kvec", "factor_1_5"], sweep=sweep_points(100, 3000, 5))


@pytest.fixture(scope="module")
def kv_run() -> Run:
    # 4 KiB records: past KMALLOC_MAX_SIZE (4 MiB) after 1024 of them, kvmalloc moves from
    # the direct map to the vmalloc space; the timeline gets two panels
    return run_growth(RunSpec("kvmalloc", "rust_kvec", LATEST, elem="4096B", elements=1100))


@pytest.fixture(scope="module")
def refused_run() -> Run:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the kernel's WARN on a too-large kmalloc
        return run_growth(RunSpec("kmalloc", "rust_kvec", LATEST, elem="4096B", elements=1100))


def _written(tmp_path: pathlib.Path, name: str) -> bytes:
    """The one file the call wrote: nothing else appeared."""
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    data = (tmp_path / name).read_bytes()
    assert data
    return data


# --------------------------------------------------------------------------- files

@pytest.mark.parametrize("ext", [".png", ".svg", ".pdf"])
def test_plot_sweep_writes_each_format(mpl: Any, tmp_path: pathlib.Path, ext: str,
                                       sweep: tuple[list[dict[str, Any]], list[Run]]) -> None:
    plot.plot_sweep(sweep[0], str(tmp_path / f"sweep{ext}"))
    assert MAGIC[ext](_written(tmp_path, f"sweep{ext}"))


@pytest.mark.parametrize("ext", [".png", ".svg", ".pdf"])
def test_plot_runs_writes_each_format(mpl: Any, tmp_path: pathlib.Path, ext: str,
                                      sweep: tuple[list[dict[str, Any]], list[Run]]) -> None:
    plot.plot_runs(sweep[1], tmp_path / f"runs{ext}")          # a Path works as well
    assert MAGIC[ext](_written(tmp_path, f"runs{ext}"))


@pytest.mark.parametrize("ext", [".png", ".svg", ".pdf"])
def test_plot_timeline_writes_each_format(mpl: Any, tmp_path: pathlib.Path, ext: str,
                                          kv_run: Run) -> None:
    assert {e["backing"] for e in kv_run.events} == {"kmalloc", "vmalloc_huge"}
    plot.plot_timeline(kv_run, str(tmp_path / f"timeline{ext}"))
    assert MAGIC[ext](_written(tmp_path, f"timeline{ext}"))


def test_refused_runs_and_several_profiles_plot(mpl: Any, tmp_path: pathlib.Path,
                                                refused_run: Run) -> None:
    assert refused_run.failed_at == 1024
    plot.plot_timeline(refused_run, str(tmp_path / "t.png"))
    rows, runs = growth_study(allocs=["vmalloc", "moveonly"], policies=["rust_kvec"],
                              profiles=["v6.12", "a0309faf1cb0", "latest"],
                              sweep=sweep_points(100, 2000, 4))
    plot.plot_sweep(rows, str(tmp_path / "s.png"))
    plot.plot_runs([*runs, refused_run], str(tmp_path / "r.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.png", "s.png", "t.png"]


def test_figures_are_closed_and_reproducible(mpl: Any, tmp_path: pathlib.Path,
                                             sweep: tuple[list[dict[str, Any]], list[Run]]) -> None:
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    for name in ("a.svg", "b.svg"):
        plot.plot_runs(sweep[1], str(tmp_path / name))
    assert plt.get_fignums() == before
    # no date in the file: the same study writes the same bytes
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_lines_take_their_allocators_colour(mpl: Any, tmp_path: pathlib.Path) -> None:
    for alloc in ("kmalloc", "vmalloc"):
        run = run_growth(RunSpec(alloc, "rust_kvec", LATEST, elements=300))
        plot.plot_runs([run], str(tmp_path / f"{alloc}.svg"))
    k = (tmp_path / "kmalloc.svg").read_text()
    v = (tmp_path / "vmalloc.svg").read_text()
    assert "#d55e00" in k and "#0072b2" not in k
    assert "#0072b2" in v and "#d55e00" not in v


def test_importing_the_module_does_not_import_matplotlib() -> None:
    out = subprocess.run([sys.executable, "-c", "import sys, kvalloc.tools.plot; "
                          "print('matplotlib' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- merging

def test_merge_identical_groups_equal_series_in_order() -> None:
    series = {
        "kmalloc": [(1.0, 2.0), (10.0, 3.0)],
        "vmalloc": [(1.0, 0.5), (10.0, 3.0)],
        "kvmalloc": [(1.0, 2.0), (10.0, 3.0)],
        "moveonly": [(1.0, 0.5), (10.0, 3.0)],
        "other": [(1.0, 2.0)],
    }
    assert plot.merge_identical(series) == [
        (["kmalloc", "kvmalloc"], [(1.0, 2.0), (10.0, 3.0)]),
        (["vmalloc", "moveonly"], [(1.0, 0.5), (10.0, 3.0)]),
        (["other"], [(1.0, 2.0)]),
    ]


def test_merge_identical_edge_cases() -> None:
    assert plot.merge_identical({}) == []
    assert plot.merge_identical({"a": [], "b": []}) == [(["a", "b"], [])]
    # exact comparison: a point that differs in the last place is another line
    assert plot.merge_identical({"a": [(1, 0.1 + 0.2)], "b": [(1, 0.3)]}) == [
        (["a"], [(1, 0.1 + 0.2)]), (["b"], [(1, 0.3)])]
    # any hashable label, and the points come back as a new list
    pts = [(1, 2)]
    ((labels, out),) = plot.merge_identical({("kmalloc", "exact"): pts})
    assert labels == [("kmalloc", "exact")] and out == pts and out is not pts


def test_group_labels_name_every_merged_configuration() -> None:
    c = plot._Config
    k, kv = c("kmalloc", "rust_kvec", LATEST, "u64", "push"), c("kvmalloc", "rust_kvec", LATEST,
                                                                 "u64", "push")
    assert plot._group_label([kv, k], [k, kv]) == "kmalloc, kvmalloc / rust_kvec"
    old = "3ddc2fefe6f3"
    k_old, v_old = k._replace(profile=old), c("vmalloc", "exact", old, "u64", "push")
    universe = [k, kv, k_old, v_old]
    # profiles named only when several are drawn; every one of them, said once
    assert plot._group_label([k, k_old], universe) == "kmalloc / rust_kvec (every profile)"
    # in the study's order: allocators as in ALLOCS (kmalloc, vmalloc, kvmalloc, moveonly)
    assert plot._group_label([kv, v_old], universe) == (
        "vmalloc / exact (v6.12); kvmalloc / rust_kvec (latest)")
    # a raw-resize workload has no policy: its kernel function alone
    raw = c("kvrealloc", plot.RAW_POLICY, LATEST, "u64", "bpf-insn-hist")
    assert plot._group_label([raw], [raw]) == "kvrealloc"
    # vectors, churn and background are named where they differ
    many = k._replace(variant=plot._variant(vectors=3, interleave="random"))
    assert plot._group_label([many], [k, many]) == "kmalloc / rust_kvec (3 vectors (random))"
    assert plot._group_label([k], [k, many]) == "kmalloc / rust_kvec (1 vector)"


def test_a_coincidence_note_never_breaks_an_equality_across_lines() -> None:
    c = plot._Config
    km, vm, kv = (c(a, "rust_kvec", LATEST, "u64", "push") for a in ("kmalloc", "vmalloc", "kvmalloc"))
    kv_exact = c("kvmalloc", "exact", LATEST, "u64", "push")
    order = [km, vm, kv, kv_exact]
    note = plot._coincidences("b", [[[vm], [kv]], [[km], [kv_exact]]], order,
                              lambda g: order.index(g[0]) + 1)
    # one policy: by name; two: by legend number. The "=" is padded by no-break spaces
    assert note.replace("\u00a0", " ") == "(b) rust_kvec: vmalloc = kvmalloc; [1] = [4]"
    for width in range(24, 48):            # the legend wraps at 40
        lines = plot._wrap(note, width, "     ").split("\n")
        assert not any(line.rstrip().endswith("=") or line.lstrip().startswith("=")
                       for line in lines), (width, lines)

def test_sweep_rows_merge_kmalloc_and_kvmalloc_below_the_kmalloc_limit(
        sweep: tuple[list[dict[str, Any]], list[Run]]) -> None:
    # what plot_sweep merges: the series of each configuration, equal in every panel
    rows = sweep[0]
    series: dict[tuple[str, str], list[tuple[int, float, int, float]]] = {}
    for r in rows:
        series.setdefault((r["alloc"], r["policy"]), []).append(
            (r["elements"], r["copies_per_element"], r["worst_copy_bytes"], r["overhead_pct"]))
    groups = [labels for labels, _ in plot.merge_identical(series)]
    assert [("kmalloc", "rust_kvec"), ("kvmalloc", "rust_kvec")] in groups
    assert [("vmalloc", "rust_kvec")] in groups


# --------------------------------------------------------------------------- colours

def test_colours_and_styles_are_fixed() -> None:
    assert plot.alloc_colour("kmalloc") == plot.alloc_colour("kmalloc") == "#D55E00"
    assert [plot.alloc_colour(a) for a in ("kmalloc", "vmalloc", "kvmalloc", "moveonly")] == [
        "#D55E00", "#0072B2", "#009E73", "#000000"]
    assert set(plot.ALLOC_COLOURS.values()) <= set(plot.OKABE_ITO.values())
    # the raw-resize workloads' kernel functions share their allocator's colour
    assert [plot.alloc_colour(a) for a in ("krealloc", "vrealloc", "kvrealloc")] == [
        "#D55E00", "#0072B2", "#009E73"]
    # a name outside the tables still gets one fixed Okabe-Ito colour (crc32, not hash())
    spare = plot.alloc_colour("slub_debug")
    assert spare == plot.alloc_colour("slub_debug") and spare in plot.OKABE_ITO.values()
    assert spare not in plot.ALLOC_COLOURS.values()
    styles = [plot.policy_style(p) for p in ("rust_kvec", "rust_std", "cpython_list",
                                             "factor_1_5", "exact")]
    assert styles[0] == "-" and len({repr(s) for s in styles}) == 5
    assert plot.policy_style("doubling") == plot.policy_style("doubling")
    assert plot.profile_marker(LATEST) == plot.profile_marker(LATEST)
    assert len(set(plot.PROFILE_MARKERS.values())) == len(plot.PROFILE_MARKERS)


# --------------------------------------------------------------------------- input checks

def test_bad_extension(sweep: tuple[list[dict[str, Any]], list[Run]], kv_run: Run) -> None:
    msg = "--plot FILE must end in .png, .svg or .pdf, got 'x.jpg'"
    with pytest.raises(ValueError) as e1:
        plot.plot_sweep(sweep[0], "x.jpg")
    with pytest.raises(ValueError) as e2:
        plot.plot_runs(sweep[1], "x.jpg")
    with pytest.raises(ValueError) as e3:
        plot.plot_timeline(kv_run, "x.jpg")
    assert str(e1.value) == str(e2.value) == str(e3.value) == msg
    with pytest.raises(ValueError, match=r"got 'figure'$"):
        plot.plot_runs(sweep[1], "figure")
    with pytest.raises(TypeError) as e4:
        plot.plot_runs(sweep[1], 3)  # type: ignore[arg-type]
    assert str(e4.value) == "path must be a str or os.PathLike, got int"
    assert not pathlib.Path("x.jpg").exists()


def test_empty_inputs() -> None:
    with pytest.raises(ValueError) as e1:
        plot.plot_sweep([], "x.png")
    assert str(e1.value) == "plot_sweep: rows is empty, nothing to plot"
    with pytest.raises(ValueError) as e2:
        plot.plot_runs([], "x.png")
    assert str(e2.value) == "plot_runs: runs is empty, nothing to plot"
    empty = run_growth(RunSpec("vmalloc", "rust_kvec", LATEST, elements=0))
    assert empty.events == []
    with pytest.raises(ValueError) as e3:
        plot.plot_timeline(empty, "x.png")
    assert str(e3.value) == "plot_timeline: the run has no events, nothing to plot"


def test_wrong_types(sweep: tuple[list[dict[str, Any]], list[Run]]) -> None:
    rows, runs = sweep
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: plot.plot_sweep(tuple(rows), "x.png"),  # type: ignore[arg-type]
         "plot_sweep: rows must be a list of growth rows (dicts), got tuple"),
        (lambda: plot.plot_sweep([rows[0], "row"], "x.png"),  # type: ignore[list-item]
         "plot_sweep: rows[1] must be a growth row (a dict), got str"),
        (lambda: plot.plot_runs(runs[0], "x.png"),  # type: ignore[arg-type]
         "plot_runs: runs must be a list of kvalloc.tools.study.Run, got Run"),
        (lambda: plot.plot_runs([rows[0]], "x.png"),  # type: ignore[list-item]
         "plot_runs: runs[0] must be a kvalloc.tools.study.Run, got dict"),
        (lambda: plot.plot_timeline(runs, "x.png"),  # type: ignore[arg-type]
         "plot_timeline: run must be a kvalloc.tools.study.Run, got list"),
    ]
    for call, msg in cases:
        with pytest.raises(TypeError) as e:
            call()
        assert str(e.value) == msg


def test_malformed_rows_and_runs(sweep: tuple[list[dict[str, Any]], list[Run]]) -> None:
    rows, runs = sweep
    partial = {k: v for k, v in rows[0].items() if k not in ("overhead_pct", "status")}
    with pytest.raises(ValueError) as e1:
        plot.plot_sweep([rows[0], partial], "x.png")
    assert str(e1.value) == "plot_sweep: rows[1] lacks the column(s) status, overhead_pct"
    with pytest.raises(ValueError) as e2:
        plot.plot_sweep([rows[0], rows[0]], "x.png")
    assert str(e2.value) == "plot_sweep: two rows for kmalloc/rust_kvec/latest at N=100"
    with pytest.raises(ValueError) as e3:
        plot.plot_runs([runs[0], runs[0]], "x.png")
    assert str(e3.value) == "plot_runs: two runs of kmalloc/rust_kvec/latest (u64, push)"
    broken = dataclasses.replace(runs[0])
    broken.__dict__["events"] = [{"seq": 0}]                # an event of one field
    with pytest.raises(ValueError) as e4:
        plot.plot_timeline(broken, "x.png")
    assert str(e4.value).startswith("plot_timeline: run.events[0] lacks the key(s) len, ")
