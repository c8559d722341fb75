"""Benchmark results: rows, groups, counts, targets and reports, as JSON-ready data."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Count",
    "GroupResult",
    "Report",
    "Row",
    "ScalingRow",
    "Table",
    "Target",
    "environment",
    "write_json",
]


def _quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, q2, q3


@dataclass(frozen=True, slots=True)
class Row:
    """One measured (or skipped) row of a group.

    ``samples`` holds ns/op per round, in round order (``nan`` if skipped).
    """

    name: str
    group: str
    ops: int
    samples: tuple[float, ...]
    note: str = ""
    skipped: str | None = None

    @property
    def median_ns(self) -> float:
        """Median ns per operation."""
        return _quartiles(self.samples)[1] if self.samples else math.nan

    @property
    def p25_ns(self) -> float:
        """25th percentile of ns per operation."""
        return _quartiles(self.samples)[0] if self.samples else math.nan

    @property
    def p75_ns(self) -> float:
        """75th percentile of ns per operation."""
        return _quartiles(self.samples)[2] if self.samples else math.nan


@dataclass(frozen=True, slots=True)
class GroupResult:
    """The rows of one group and the name of its baseline row."""

    name: str
    title: str
    baseline: str | None
    rows: tuple[Row, ...]

    def row(self, name: str) -> Row:
        """Return the row called ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def ratio(self, name: str, baseline: str | None = None) -> float:
        """Return the median of per-round ratios of ``name`` to ``baseline``.

        ``baseline`` defaults to the group's; ``nan`` when either was skipped.
        """
        base_name = baseline if baseline is not None else self.baseline
        if base_name is None:
            return math.nan
        row, base = self.row(name), self.row(base_name)
        if row.skipped or base.skipped or not row.samples:
            return math.nan
        return statistics.median(
            a / b for a, b in zip(row.samples, base.samples, strict=True)
        )

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "title": self.title,
            "baseline": self.baseline,
            "rows": [
                {
                    "name": row.name,
                    "ops_per_call": row.ops,
                    "median_ns": _num(row.median_ns),
                    "p25_ns": _num(row.p25_ns),
                    "p75_ns": _num(row.p75_ns),
                    "ratio": _num(self.ratio(row.name)),
                    "samples_ns": [_num(s) for s in row.samples],
                    "note": row.note,
                    "skipped": row.skipped,
                }
                for row in self.rows
            ],
        }


@dataclass(frozen=True, slots=True)
class ScalingRow:
    """Aggregate throughput with ``threads`` threads against one thread."""

    name: str
    threads: int
    single: tuple[float, ...]  # ops/s per round, one thread
    multi: tuple[float, ...]  # ops/s per round, ``threads`` threads
    skipped: str | None = None

    @property
    def ratio(self) -> float:
        """Median of per-round ``multi / single`` ratios."""
        if self.skipped or not self.single:
            return math.nan
        return statistics.median(
            m / s for m, s in zip(self.multi, self.single, strict=True)
        )

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "threads": self.threads,
            "single_ops_s": _num(statistics.median(self.single))
            if self.single
            else None,
            "multi_ops_s": _num(statistics.median(self.multi)) if self.multi else None,
            "ratio": _num(self.ratio),
            "single_samples": [_num(s) for s in self.single],
            "multi_samples": [_num(s) for s in self.multi],
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class Count:
    """A counted outcome, one value per trial (e.g. loader runs)."""

    label: str
    values: tuple[int, ...]
    expected: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "label": self.label,
            "values": list(self.values),
            "expected": self.expected,
        }


@dataclass(frozen=True, slots=True)
class Target:
    """A goal: ``value op limit`` (e.g. ratio <= 0.8). ``value`` nan = skipped."""

    label: str
    value: float
    op: Literal["<=", ">=", "=="]
    limit: float
    unit: str = "x"

    @property
    def status(self) -> Literal["PASS", "MISS", "SKIP"]:
        """``PASS``, ``MISS``, or ``SKIP`` when it could not be measured."""
        if math.isnan(self.value):
            return "SKIP"
        ok = {
            "<=": self.value <= self.limit,
            ">=": self.value >= self.limit,
            "==": self.value == self.limit,
        }[self.op]
        return "PASS" if ok else "MISS"

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "label": self.label,
            "value": _num(self.value),
            "op": self.op,
            "limit": self.limit,
            "unit": self.unit,
            "status": self.status,
        }


@dataclass(frozen=True)
class Table:
    """A table of preformatted cells (e.g. hit ratios), rendered as given."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str = ""  # one "l" or "r" per column (default: left)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "title": self.title,
            "header": list(self.header),
            "rows": [list(row) for row in self.rows],
        }


def _num(value: float) -> float | None:
    """JSON has no NaN: map it to null; round for readability."""
    return None if math.isnan(value) else round(value, 3)


@dataclass
class Report:
    """What one benchmark module measured; renders as text and as JSON."""

    title: str
    groups: list[GroupResult] = field(default_factory=list)
    scaling: list[ScalingRow] = field(default_factory=list)
    scaling_title: str = "thread scaling"
    counts: list[Count] = field(default_factory=list)
    counts_title: str = "counts"
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missed(self) -> list[Target]:
        """The targets that were measured and missed."""
        return [t for t in self.targets if t.status == "MISS"]

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "title": self.title,
            "groups": [g.as_dict() for g in self.groups],
            "scaling": [s.as_dict() for s in self.scaling],
            "counts": [c.as_dict() for c in self.counts],
            "tables": [t.as_dict() for t in self.tables],
            "targets": [t.as_dict() for t in self.targets],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }


def environment() -> dict[str, Any]:
    """Return where the numbers were taken: interpreter, machine, versions."""
    versions: dict[str, str | None] = {}
    for name in ("hydracache_sync", "cachetools", "dogpile", "redis", "psycopg2"):
        module = sys.modules.get(name)
        versions[name] = getattr(module, "__version__", None) if module else None
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "gil": True if is_gil_enabled is None else bool(is_gil_enabled()),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions,
    }


def write_json(
    path: str, reports: Sequence[Report], *, settings: Mapping[str, Any] | None = None
) -> None:
    """Write ``reports`` with the environment to ``path`` (``-`` is stdout)."""
    document = {
        "environment": environment(),
        "settings": dict(settings or {}),
        "reports": [r.as_dict() for r in reports],
    }
    text = json.dumps(document, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
