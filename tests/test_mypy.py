"""``mypy --strict`` over kvalloc, containers, examples and tests, as part of the test run."""

from __future__ import annotations

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_mypy_strict_is_clean() -> None:
    api = pytest.importorskip("mypy.api")
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                      str(ROOT / "kvalloc"), str(ROOT / "containers"),
                                      str(ROOT / "examples"),
                                      str(ROOT / "tests"), str(ROOT / "conftest.py")])
    assert status == 0, stdout + stderr
