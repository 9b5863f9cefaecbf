"""Speed work changes no result: the study's rows, every run's events and dmesg, and the
kernel's /proc views and stats equal those kept in tests/data/golden.json (tests/golden.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import golden


@pytest.fixture(scope="module")
def snaps() -> tuple[dict[str, Any], dict[str, Any]]:
    return golden.snapshot(), json.loads(golden.GOLDEN.read_text())


def test_the_file_is_what_dumps_writes() -> None:
    kept = json.loads(golden.GOLDEN.read_text())
    assert json.loads(golden.dumps(kept)) == kept


@pytest.mark.parametrize("i", range(len(golden.STUDIES)))
def test_study_rows_and_events_unchanged(snaps: tuple[dict[str, Any], dict[str, Any]],
                                         i: int) -> None:
    now, kept = snaps[0]["studies"][i], snaps[1]["studies"][i]
    assert now["args"] == kept["args"] == golden.STUDIES[i]
    assert now["columns"] == kept["columns"]
    for row, old in zip(now["rows"], kept["rows"], strict=True):
        diff = {c: (a, b) for c, a, b in zip(now["columns"], row, old) if a != b}
        assert not diff, f"{dict(zip(now['columns'][:4], row[:4]))}: (now, kept) {diff}"
    assert now["events"] == kept["events"]
    assert now["dmesg"] == kept["dmesg"]


@pytest.mark.parametrize("profile", golden.PROFILES)
def test_container_views_unchanged(snaps: tuple[dict[str, Any], dict[str, Any]],
                                   profile: str) -> None:
    assert snaps[0]["containers"][profile] == snaps[1]["containers"][profile]
