"""The dependency rule: the import-linter contracts of pyproject.toml, and what ``import kvalloc`` loads."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("importlinter") is None,
                    reason="import-linter is not installed (pip install '.[test]')")
def test_import_linter_contracts_are_kept() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports; "
                               "raise SystemExit(lint_imports())"],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("one direction", "the simulator never reaches up",
                 "the leaves import nothing above them", "no import cycles inside a layer"):
        assert f"{name} KEPT" in out.stdout


def test_import_kvalloc_loads_neither_containers_nor_the_tools() -> None:
    code = ("import sys, kvalloc; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] == 'containers' or m.startswith('kvalloc.tools')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"

