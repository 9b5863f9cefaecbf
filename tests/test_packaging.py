"""Packaging: the version in one place, ``kvalloc --version``, the SPDX licence."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re

import pytest

import kvalloc
from kvalloc.tools.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"kvalloc {kvalloc.__version__}\n"


def test_installed_metadata_carries_the_same_version() -> None:
    assert importlib.metadata.version("kvalloc") == kvalloc.__version__


def test_pyproject_declares_an_spdx_licence_and_ships_its_text() -> None:
    text = (ROOT / "pyproject.toml").read_text()       # tomllib needs Python 3.11
    assert re.search(r'^license = "MIT"$', text, re.M)
    assert re.search(r'^license-files = \["LICENSE"\]$', text, re.M)
    assert re.search(r'^dynamic = \["version"\]$', text, re.M)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
