"""The command line (kvalloc.tools.cli): sub-commands run, write output, reject bad input."""

from __future__ import annotations

import argparse
import json
import pathlib

import pytest

from kvalloc.tools.cli import build_parser, main


def test_vmallocinfo_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vmallocinfo", "--workload", "demo"]) == 0
    out = capsys.readouterr().out
    assert "0xffffc90000000000-0xffffc90000003000   12288 vmalloc pages=2 vmalloc N0=2" in out
    assert " unpurged vm_area" in out and "MemTotal:        4194304 kB" in out
    assert out.count("Node 0, zone   Normal") == 1


def test_bench_quick_writes_json(tmp_path: pathlib.Path) -> None:
    j = tmp_path / "b.json"
    assert main(["bench", "--quick", "--json", str(j)]) == 0
    doc = json.loads(j.read_text())
    assert doc["quick"] is True
    assert doc["metrics"]["lowest_match_speedup"] >= 50       # an algorithmic ratio, not timing
    assert doc["metrics"]["kvec_1m_u64_fails"] == 1.0
    assert doc["goals"]["study_growth_1m_s"]["goal"] == "<= 30"        # reported, not asserted
    assert doc["metrics"]["study_growth_default_s"] > 0 and doc["metrics"]["study_jobs"] >= 1


@pytest.mark.parametrize("argv", [
    ["study", "growth", "--alloc", "nope"], ["study", "growth", "--policy", "x"],
    ["study", "growth", "--profile", "v9"], ["study", "shrink", "--from", "1K", "--to", "2K"],
    ["study", "shrink", "--from", "abc"], ["vmallocinfo", "--workload", "x"], [],
    ["test-vmalloc", "--profile", "nope"],
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "error" in err[-1]


def _commands(parser: argparse.ArgumentParser, path: str = "kvalloc"
              ) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, f"{path} {name}")
    return out


def test_every_option_of_every_command_says_what_it_does() -> None:
    missing = [f"{path} {action.option_strings[-1]}"
               for path, parser in _commands(build_parser()) for action in parser._actions
               if action.option_strings and not action.help]
    assert missing == []
