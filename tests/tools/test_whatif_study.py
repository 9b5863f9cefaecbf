"""What-if profiles and estimated time in the growth study (docs/whatif.md, docs/study.md)."""

from __future__ import annotations

import json
import pathlib
import sys
import textwrap
from collections.abc import Iterator

import pytest

from kvalloc import CostModel
from kvalloc.tools.cli import main
from kvalloc.tools.study import RunSpec, growth_study, profile_label, run_growth


@pytest.fixture
def scratch_module(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A user's module, outside the package, defining one what-if."""
    name = f"my_idea_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import kvalloc
        IDEA = kvalloc.vrealloc_profile("latest", name="scratch-idea", grow_pages="extend_va",
                                        description="grow into the free space after the area")
        NOT_A_PROFILE = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_profile_from_a_scratch_module_runs_end_to_end(
        scratch_module: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rows.json"
    assert main(["study", "growth", "--profile", f"latest,{scratch_module}:IDEA", "--alloc",
                 "vmalloc", "--policy", "exact", "--elements", "3000", "--quiet",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    latest, idea = json.loads(out.read_text())
    assert (latest["profile"], latest["profile_kind"]) == ("e64f42036ef4", "kernel")
    assert (idea["profile"], idea["profile_kind"], idea["profile_alias"]) == (
        "scratch-idea", "what-if", "")
    assert latest["bytes_copied"] > 0 and latest["moved"] > 0
    assert idea["bytes_copied"] == 0 and idea["in_place"] == idea["reallocs"] == 2999
    assert "what-if:scratch-idea" in text and "\nvmalloc   exact         latest  " in text
    assert main(["profiles", f"{scratch_module}:IDEA"]) == 0
    last = capsys.readouterr().out.splitlines()[-1].split()
    assert last[:4] == ["scratch-idea", "on", "latest", "what-if"]


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:IDEA", "vrealloc profile 'no_such_module_xyz:IDEA': No module named"),
    ("{mod}:MISSING", "has no attribute 'MISSING'"),
    ("{mod}:NOT_A_PROFILE", "is a int, not a VreallocProfile"),
    ("not-a-profile", "unknown vrealloc profile 'not-a-profile'; valid: 3ddc2fefe6f3"),
])
def test_bad_profile_names_are_value_errors(scratch_module: str, spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        growth_study(10, profiles=[spec.format(mod=scratch_module)])


def test_what_if_rows_are_labelled_apart_from_kernel_commits() -> None:
    rows, _ = growth_study(2000, allocs=["vmalloc"], policies=["rust_kvec"],
                           profiles=["latest", "grow-into-va", "vremap"])
    assert [(r["profile"], r["profile_kind"]) for r in rows] == [
        ("e64f42036ef4", "kernel"), ("grow-into-va", "what-if"), ("vremap", "what-if")]
    assert [profile_label(r["profile"]) for r in rows] == [
        "latest", "what-if:grow-into-va", "what-if:vremap"]
    latest, grow, remap = rows
    assert grow["moved"] == 0 and grow["bytes_copied"] == 0
    assert remap["moved"] == latest["moved"] > 0 and remap["bytes_copied"] == 0


def test_estimated_time_is_the_sum_of_the_events_and_follows_the_model(
        tmp_path: pathlib.Path) -> None:
    spec = RunSpec("vmalloc", "cpython_list", "e64f42036ef4", elements=20_000)
    run = run_growth(spec)
    row = run.row()
    est = [e["est_ns"] for e in run.events]
    assert all(ns >= 50 for ns in est)            # resize_call_ns at least
    assert row["est_time_ms"] == round(sum(est) / 1e6, 4)
    assert row["worst_est_us"] == round(max(est) / 1e3, 3)
    assert row["est_ns_per_element"] == round(sum(est) / row["len"], 2)
    # the worst resize is a move: the largest copy dominates it
    worst = max(run.events, key=lambda e: e["est_ns"])
    assert worst["outcome"] == "moved" and worst["bytes_copied"] == row["worst_copy_bytes"]
    doubled = CostModel.default()
    doubled = doubled.replace(**{k: (tuple((f, r * 2) for f, r in v) if k.endswith("tiers")
                                     else v * 2)
                                 for k, v in doubled.to_dict().items()})
    est2 = [e["est_ns"] for e in run_growth(spec, doubled).events]
    assert all(abs(b - 2 * a) <= 1 for a, b in zip(est, est2))


def test_cli_cost_model_file(tmp_path: pathlib.Path) -> None:
    cheap, out = tmp_path / "no-copy-cost.toml", tmp_path / "rows.json"
    cheap.write_text("memcpy_tiers = [[0, 0.0]]\n")
    args = ["study", "growth", "--alloc", "vmalloc", "--policy", "exact", "--elements", "3000",
            "--quiet", "--json", str(out)]
    assert main(args) == 0
    base = json.loads(out.read_text())[0]["est_time_ms"]
    assert main([*args, "--cost-model", str(cheap)]) == 0
    free_copies = json.loads(out.read_text())[0]["est_time_ms"]
    assert 0 < free_copies < base
    with pytest.raises(SystemExit):
        main([*args, "--cost-model", str(tmp_path / "missing.toml")])


def test_the_whatif_page_examples_run() -> None:
    import doctest
    root = pathlib.Path(__file__).resolve().parents[2]
    result = doctest.testfile(str(root / "docs" / "whatif.md"), module_relative=False)
    assert result.attempted >= 8 and result.failed == 0


def test_whatif_study_compares_each_what_if_with_latest_per_case() -> None:
    from kvalloc.tools.whatif import COLUMNS, format_whatif, whatif_study
    rows = whatif_study(["vremap", "grow-into-va"], cases=["push", "burst"], elements=3000)
    assert [(r["case"], r["profile_label"]) for r in rows] == [
        (c, p) for c in ("push", "burst")
        for p in ("latest", "what-if:vremap", "what-if:grow-into-va")]
    assert all(list(r) == list(COLUMNS) for r in rows)
    for case in ("push", "burst"):
        latest, remap, grow = (r for r in rows if r["case"] == case)
        assert latest["bytes_copied"] > 0 and latest["moved"] > 0
        assert (latest["copied_vs_latest"], latest["time_vs_latest"]) == (1.0, 1.0)
        assert remap["bytes_copied"] == 0 and remap["moved"] == latest["moved"]
        assert remap["tlb_flushes"] == latest["tlb_flushes"] + remap["moved"]
        assert remap["ptes_mapped"] > latest["ptes_mapped"] - latest["moved"]
        assert grow["moved"] == 0 and grow["copied_vs_latest"] == 0.0
        assert grow["time_vs_latest"] == round(grow["est_time_ms"] / latest["est_time_ms"], 4)
        assert grow["time_vs_latest"] < 1
    text = format_whatif(rows)
    assert "what-if:grow-into-va: est time" in text and "faster in push, burst" in text


def test_whatif_study_refuses_unknown_cases_and_bad_n() -> None:
    from kvalloc.tools.whatif import whatif_study
    with pytest.raises(ValueError, match="unknown what-if case 'pushh'; valid: push, push-exact"):
        whatif_study(cases=["pushh"])
    with pytest.raises(ValueError, match="--elements must be >= 1, got 0"):
        whatif_study(cases=["push"], elements=0)


def test_cli_study_whatif_writes_rows_and_a_figure(tmp_path: pathlib.Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out, fig = tmp_path / "w.json", tmp_path / "w.png"
    assert main(["study", "whatif", "--case", "sawtooth", "--elements", "3000", "--quiet",
                 "--json", str(out), "--plot", str(fig)]) == 0
    rows = json.loads(out.read_text())
    assert [r["profile_label"] for r in rows] == [
        "latest", "what-if:grow-into-va", "what-if:vremap", "what-if:refill-tail",
        "what-if:keep-huge"]
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {fig}" in capsys.readouterr().out
    from kvalloc.tools.plot import plot_whatif
    with pytest.raises(ValueError, match="the rows hold no what-if profile"):
        plot_whatif(rows[:1], tmp_path / "x.png")


def test_a_profile_object_goes_straight_into_the_studies() -> None:
    import kvalloc
    from kvalloc.tools.whatif import whatif_study
    idea = kvalloc.vrealloc_profile("latest", name="object-idea", move="remap")
    rows, _ = growth_study(3000, allocs=["vmalloc"], policies=["rust_kvec"], profiles=[idea])
    assert (rows[0]["profile"], rows[0]["profile_kind"], rows[0]["bytes_copied"]) == (
        "object-idea", "what-if", 0)
    assert kvalloc.resolve_profile("object-idea") is idea
    assert [r["profile_label"] for r in whatif_study([idea], cases=["push"], elements=3000)] == [
        "latest", "what-if:object-idea"]
