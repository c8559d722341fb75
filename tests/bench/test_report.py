"""Benchmark results: ratios, targets and the JSON document."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hydracache_sync.bench.report import (
    Count,
    GroupResult,
    Report,
    Row,
    ScalingRow,
    Target,
    write_json,
)


def _group() -> GroupResult:
    rows = (
        Row("base", "g", 1, (100.0, 200.0, 100.0)),
        Row("fast", "g", 1, (50.0, 50.0, 100.0)),
        Row("gone", "g", 1, (), skipped="peer not installed"),
    )
    return GroupResult("g", "a group", "base", rows)


class TestGroupResult:
    """Ratios are medians of per-round ratios against the baseline."""

    def test_ratio(self) -> None:
        """Rounds 0.5, 0.25 and 1.0: the median is 0.5; a skipped row is nan."""
        group = _group()
        assert 0.5 == group.ratio("fast")
        assert 1.0 == group.ratio("base")
        assert math.isnan(group.ratio("gone"))

    def test_unknown_row(self) -> None:
        """Asking for a row that is not there is a KeyError."""
        with pytest.raises(KeyError, match="nope"):
            _group().row("nope")


class TestTarget:
    """A target passes, misses, or is skipped when unmeasured."""

    def test_status(self) -> None:
        """<=, >= and == compare; nan is SKIP."""
        assert "PASS" == Target("a", 0.5, "<=", 0.8).status
        assert "MISS" == Target("a", 0.9, "<=", 0.8).status
        assert "PASS" == Target("a", 1.0, ">=", 0.8).status
        assert "MISS" == Target("a", 2.0, "==", 1.0, unit="").status
        assert "SKIP" == Target("a", math.nan, "<=", 1.0).status


class TestReport:
    """Report.missed and the JSON document."""

    def test_missed_and_json(self, tmp_path: Path) -> None:
        """Only measured misses count; NaN becomes null in the JSON file."""
        report = Report(
            "title",
            groups=[_group()],
            scaling=[ScalingRow("s", 2, (10.0, 10.0), (15.0, 25.0))],
            counts=[Count("runs", (1, 1), 1)],
            targets=[Target("ok", 0.5, "<=", 1.0), Target("bad", 2.0, "<=", 1.0)],
        )
        assert ["bad"] == [t.label for t in report.missed]
        path = tmp_path / "out.json"
        write_json(str(path), [report], settings={"quick": True})
        document = json.loads(path.read_text())
        assert {"quick": True} == document["settings"]
        (saved,) = document["reports"]
        assert 2.0 == saved["scaling"][0]["ratio"]
        gone = saved["groups"][0]["rows"][2]
        assert (None, "peer not installed") == (gone["median_ns"], gone["skipped"])
        assert "python" in document["environment"]
