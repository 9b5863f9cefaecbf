"""Run ``mypy --strict`` over code snippets and compare its errors with ``# E: <code>`` marks.

A snippet is a dedented module; each line expected to be reported carries ``# E: <error
code>``. :func:`run` checks every snippet in one mypy run; :func:`check` asserts that one
snippet got exactly the errors its marks name.
"""

from __future__ import annotations

import os
import pathlib
import re
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

_ERR = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: (?P<msg>.*?)(?:  \[(?P<code>[a-z-]+)\])?$")
_MARK = re.compile(r"#\s*E:\s*(?P<code>[a-z-]+)")

Results = dict[str, set[tuple[int, str]]]


def expected(src: str) -> set[tuple[int, str]]:
    """The ``(line, error code)`` pairs a snippet's marks ask for."""
    return {(i, m.group("code")) for i, line in enumerate(src.splitlines(), 1)
            if (m := _MARK.search(line))}


def run(snippets: dict[str, str], directory: pathlib.Path) -> Results:
    """One ``mypy --strict`` run over every snippet: snippet name -> {(line, error code)}, and
    ``"__stdout__"`` -> {(0, mypy's output)}."""
    api = pytest.importorskip("mypy.api")
    paths = []
    for name, src in snippets.items():
        p = directory / f"{name}.py"
        p.write_text(textwrap.dedent(src).lstrip("\n"))
        paths.append(str(p))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)                                  # pyproject's mypy_path is cwd-relative
        mp.setenv("MYPYPATH", os.pathsep.join([str(ROOT), str(ROOT / "typings")]))
        stdout, stderr, status = api.run(["--strict", "--config-file", str(ROOT / "pyproject.toml"),
                                          "--show-error-codes", "--no-pretty",
                                          "--no-error-summary", *paths])
    assert status in (0, 1), stdout + stderr           # 2 would be a crash or bad usage
    found: Results = {name: set() for name in snippets}
    for line in stdout.splitlines():
        m = _ERR.match(line)
        if m is None:
            continue
        stem = pathlib.Path(m.group("path")).stem
        assert stem in found, line                      # errors only in the snippets
        found[stem].add((int(m.group("line")), m.group("code") or "?"))
    found["__stdout__"] = {(0, stdout)}
    return found


def check(results: Results, snippets: dict[str, str], name: str) -> None:
    """Assert that snippet ``name`` got exactly the errors its marks name."""
    got = results[name]
    want = expected(textwrap.dedent(snippets[name]).lstrip("\n"))
    out = next(iter(results["__stdout__"]))[1]
    assert got == want, f"{name}: expected {sorted(want)}, got {sorted(got)}\n{out}"
