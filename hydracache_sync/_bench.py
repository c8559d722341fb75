"""Benchmark harness and the local-tier scenarios behind ``hydracache bench``.

It lives in the package (not only in ``benchmarks/``) so that ``python -m
hydracache_sync bench`` works from an installed wheel. The peers it compares
against (cachetools, dogpile.cache) are imported inside the scenario setups; a
missing peer turns its rows into "skipped" notes, never an error.

Method, chosen for a shared and noisy machine:

- Rows of one group run round-robin: each round takes one sample of every row
  (the starting row rotates), after warm-up rounds that are discarded. Load
  from other processes then hits every row alike.
- A sample times ``number`` calls of a body; ``number`` is calibrated once so a
  sample lasts about ``sample_time``. Bodies built with :func:`compile_loop`
  repeat the operation inline ``ops`` times, so loop and call overhead is
  spread over ``ops`` operations. The garbage collector is paused during a
  sample, as :mod:`timeit` does.
- Reported: median ns/op with the 25th/75th percentiles, and the ratio to the
  group's baseline row as the median of per-round ratios (paired samples
  cancel slow drifts in machine load).
- Thread scaling runs N threads in tight loops for a fixed time and compares
  aggregate ops/s with one thread; rounds interleave implementations.

The small API (:class:`Harness`, :func:`compile_loop`, :func:`measure_scaling`,
:class:`Report`, :func:`format_table`, :func:`bench_main`) is what the other
scenario modules in ``benchmarks/`` reuse.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import itertools
import json
import math
import os
import platform
import statistics
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

__all__ = [
    "Body",
    "Count",
    "GroupResult",
    "Harness",
    "Progress",
    "Report",
    "Row",
    "ScalingRow",
    "Settings",
    "Target",
    "add_common_arguments",
    "bench_main",
    "coherence_report",
    "compile_loop",
    "environment",
    "format_table",
    "local_report",
    "main",
    "measure_scaling",
    "postgres_report",
    "postgres_unreachable",
    "print_table",
    "redis_report",
    "redis_unreachable",
    "resolve_postgres_dsn",
    "resolve_redis_url",
    "run_local",
    "throughput",
    "tier_reports",
    "tier_settings",
    "write_json",
]

Body = Callable[[], object]
"""A benchmark body: one call performs the scenario's ``ops`` operations."""

Setup = Callable[[], Body]
"""Builds the state of a scenario (outside any timing) and returns its body."""


# -- bodies -------------------------------------------------------------------


def compile_loop(stmt: str, ops: int = 1, **namespace: Any) -> Body:
    """Return a function that runs ``stmt`` ``ops`` times inline.

    Every ``{i}`` in ``stmt`` is replaced by the repetition's index (0 to
    ``ops - 1``), so ``"cache.get(k{i})"`` with ``k0``..``k19`` in
    ``namespace`` reads 20 distinct keys with no iterator in the loop.
    ``namespace`` becomes the function's globals. This is what :mod:`timeit`
    does with a statement, minus its outer loop.

    Args:
        stmt: One or more lines of Python; indentation is normalised.
        ops: How many times the statement is repeated.
        **namespace: The names ``stmt`` uses.

    Returns:
        A zero-argument function.
    """
    if ops < 1:
        raise ValueError(f"ops must be >= 1, not {ops}")
    body = textwrap.dedent(stmt).strip("\n")
    lines = [
        textwrap.indent(body.replace("{i}", str(index)), "    ") for index in range(ops)
    ]
    source = "def _bench_body():\n" + "\n".join(lines) + "\n"
    scope: dict[str, Any] = dict(namespace)
    # The source is assembled from the benchmark's own statement, as timeit does.
    exec(compile(source, f"<bench {body[:40]!r}>", "exec"), scope)  # noqa: S102
    function: Body = scope["_bench_body"]
    return function


def _time_calls(body: Body, number: int) -> int:
    """Return the nanoseconds ``number`` calls of ``body`` take (GC paused)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        calls = itertools.repeat(None, number)
        start = time.perf_counter_ns()
        for _ in calls:
            body()
        return time.perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def _calibrate(body: Body, sample_time: float) -> int:
    """Return a call count for which one sample lasts about ``sample_time``."""
    number = 1
    while True:
        elapsed = _time_calls(body, number) / 1e9
        if elapsed >= min(0.01, sample_time / 4) or number >= 1 << 30:
            break
        number *= 2 if elapsed > 0.001 else 10
    return max(1, round(number * sample_time / max(elapsed, 1e-9)))


# -- progress -------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (no dependencies).

    Args:
        total: Planned steps; may be raised later through ``total``.
        enabled: ``None`` shows the bar only when ``stream`` is a TTY,
            ``True`` forces it, ``False`` turns it off.
        stream: Where to draw (default ``sys.stderr``).
    """

    def __init__(
        self,
        total: int = 0,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = total
        self.done = 0
        self._last_draw = 0.0
        self._width = 0

    def advance(self, label: str = "", steps: int = 1) -> None:
        """Count ``steps`` more steps done and redraw (at most 20 times a second)."""
        self.done += steps
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.05 and self.done < self.total:
            return
        self._last_draw = now
        total = max(self.total, self.done, 1)
        filled = int(24 * self.done / total)
        line = (
            f"\r[{'#' * filled}{'.' * (24 - filled)}] "
            f"{100 * self.done // total:3d}% {label[:44]}"
        )
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write(line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


# -- results --------------------------------------------------------------------


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


def _num(value: float) -> float | None:
    """JSON has no NaN: map it to null; round for readability."""
    return None if math.isnan(value) else round(value, 3)


def _fmt_ns(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _fmt_ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def _fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.0f}k"


def _fmt_value(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g}{unit}"


@dataclass
class Report:
    """What one benchmark module measured; renders as text and as JSON."""

    title: str
    groups: list[GroupResult] = field(default_factory=list)
    scaling: list[ScalingRow] = field(default_factory=list)
    scaling_title: str = "thread scaling"
    counts: list[Count] = field(default_factory=list)
    counts_title: str = "counts"
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missed(self) -> list[Target]:
        """The targets that were measured and missed."""
        return [t for t in self.targets if t.status == "MISS"]

    def render(self) -> str:
        """Return the report as plain-text tables."""
        out = [self.title, "=" * len(self.title)]
        for group in self.groups:
            out += ["", group.title or group.name]
            base = group.baseline
            rows = []
            for row in group.rows:
                if row.skipped:
                    rows.append([row.name, "skipped", "", "", "", row.skipped])
                    continue
                ratio = group.ratio(row.name)
                rows.append(
                    [
                        row.name,
                        _fmt_ns(row.median_ns),
                        _fmt_ns(row.p25_ns),
                        _fmt_ns(row.p75_ns),
                        "baseline" if row.name == base else _fmt_ratio(ratio),
                        row.note,
                    ]
                )
            out.append(
                format_table(
                    ["", "ns/op", "p25", "p75", f"vs {base}" if base else "", ""],
                    rows,
                    align="lrrrrl",
                )
            )
        if self.scaling:
            threads = self.scaling[0].threads
            out += ["", self.scaling_title]
            rows = []
            for srow in self.scaling:
                if srow.skipped:
                    rows.append([srow.name, "skipped", "", srow.skipped])
                    continue
                rows.append(
                    [
                        srow.name,
                        _fmt_rate(statistics.median(srow.single)),
                        _fmt_rate(statistics.median(srow.multi)),
                        _fmt_ratio(srow.ratio),
                    ]
                )
            out.append(
                format_table(
                    ["", "1 thread ops/s", f"{threads} threads ops/s", "ratio"],
                    rows,
                    align="lrrr",
                )
            )
        if self.counts:
            out += ["", self.counts_title]
            out.append(
                format_table(
                    ["", "per trial", "expected"],
                    [
                        [
                            c.label,
                            ", ".join(str(v) for v in c.values),
                            "" if c.expected is None else str(c.expected),
                        ]
                        for c in self.counts
                    ],
                    align="lll",
                )
            )
        if self.targets:
            out += ["", "targets"]
            out.append(
                format_table(
                    ["", "measured", "target", ""],
                    [
                        [
                            t.label,
                            "-" if math.isnan(t.value) else _fmt_value(t.value, t.unit),
                            f"{t.op} {_fmt_value(t.limit, t.unit)}",
                            t.status,
                        ]
                        for t in self.targets
                    ],
                    align="lrrl",
                )
            )
        if self.notes:
            out.append("")
            out += [f"note: {n}" for n in self.notes]
        if self.seconds:
            out += ["", f"({self.seconds:.1f} s)"]
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "title": self.title,
            "groups": [g.as_dict() for g in self.groups],
            "scaling": [s.as_dict() for s in self.scaling],
            "counts": [c.as_dict() for c in self.counts],
            "targets": [t.as_dict() for t in self.targets],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }


# -- plain-text tables and JSON ----------------------------------------------------


def format_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    align: str | None = None,
    indent: str = "  ",
) -> str:
    """Return ``rows`` as aligned columns under ``headers``.

    Args:
        headers: Column titles.
        rows: Cells as strings; short rows are padded.
        align: One ``l`` or ``r`` per column (default: all left).
        indent: Prefix of every line.

    Returns:
        The table, without a trailing newline; trailing blanks are stripped.
    """
    width = len(headers)
    table = [list(headers)] + [list(r) + [""] * (width - len(r)) for r in rows]
    sizes = [max(len(line[col]) for line in table) for col in range(width)]
    how = (align or "l" * width).ljust(width, "l")
    lines = []
    for number, line in enumerate(table):
        cells = [
            cell.rjust(size) if how[col] == "r" else cell.ljust(size)
            for col, (cell, size) in enumerate(zip(line, sizes, strict=True))
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
        if number == 0:
            lines.append((indent + "  ".join("-" * s for s in sizes)).rstrip())
    return "\n".join(lines)


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    align: str | None = None,
    file: TextIO | None = None,
) -> None:
    """Print :func:`format_table` output to ``file`` (default stdout)."""
    print(format_table(headers, rows, align=align), file=file)


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


# -- the harness --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """How long to measure: rounds per row, warm-up rounds, seconds per sample.

    ``scaling_time`` is the seconds of one thread-scaling sample and
    ``scaling_rounds`` how many samples per implementation and thread count.
    """

    rounds: int = 21
    warmup: int = 2
    sample_time: float = 0.06
    scaling_time: float = 0.25
    scaling_rounds: int = 9
    trials: int = 5

    @classmethod
    def for_run(cls, quick: bool) -> Settings:
        """Return the default (~40 s for the local suite) or quick (~10 s) settings."""
        if quick:
            return cls(
                rounds=7,
                warmup=1,
                sample_time=0.025,
                scaling_time=0.15,
                scaling_rounds=3,
                trials=2,
            )
        return cls()

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "rounds": self.rounds,
            "warmup": self.warmup,
            "sample_time": self.sample_time,
            "scaling_time": self.scaling_time,
            "scaling_rounds": self.scaling_rounds,
            "trials": self.trials,
        }


def _ready(body: Body) -> Body:
    return body


@dataclass(slots=True)
class _Entry:
    name: str
    setup: Setup | None
    ops: int
    note: str
    skipped: str | None


@dataclass(slots=True)
class _Group:
    name: str
    title: str
    baseline: str | None
    entries: list[_Entry] = field(default_factory=list)


class Harness:
    """Registers scenarios by group and measures them in interleaved rounds.

    Example::

        h = Harness(Settings.for_run(quick=True))
        h.group("get", baseline="dict.get", title="get hit")
        body = compile_loop("d.get(k)", 20, d={1: 2}, k=1)
        h.add("get", "dict.get", body, ops=20)
        for result in h.run():
            print(result.ratio("dict.get"))

    Args:
        settings: Rounds, warm-up and sample length.
        progress: Advanced once per sample.
    """

    def __init__(
        self, settings: Settings | None = None, progress: Progress | None = None
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        self.progress = progress if progress is not None else Progress(enabled=False)
        self._groups: dict[str, _Group] = {}

    def group(self, name: str, *, baseline: str | None = None, title: str = "") -> None:
        """Declare a group; ratios in it are taken against the row ``baseline``."""
        self._groups[name] = _Group(name, title, baseline)

    def add(
        self,
        group: str,
        name: str,
        fn: Body | None = None,
        *,
        setup: Setup | None = None,
        ops: int = 1,
        note: str = "",
    ) -> None:
        """Register a row: a ready ``fn``, or a ``setup`` returning the body.

        Args:
            group: A group declared with :meth:`group` (created if unknown).
            name: The row's label, unique in its group.
            fn: The body; one call performs ``ops`` operations.
            setup: Called once before the group runs; returns the body. An
                ``ImportError`` raised here skips the row with a note.
            ops: Operations per call of the body.
            note: Shown beside the row.
        """
        if fn is not None and setup is None:
            setup = functools.partial(_ready, fn)
        elif setup is None or fn is not None:
            raise ValueError("give exactly one of fn= and setup=")
        entries = self._groups.setdefault(group, _Group(group, "", None)).entries
        if any(e.name == name for e in entries):
            raise ValueError(f"duplicate row {name!r} in group {group!r}")
        entries.append(_Entry(name, setup, ops, note, None))

    def skip(self, group: str, name: str, reason: str) -> None:
        """Register a row that cannot run here (e.g. a peer is not installed)."""
        entries = self._groups.setdefault(group, _Group(group, "", None)).entries
        entries.append(_Entry(name, None, 1, "", reason))

    def planned_steps(self) -> int:
        """Return the number of samples :meth:`run` will take (for a progress bar)."""
        per_row = self.settings.rounds + self.settings.warmup
        return sum(
            per_row * sum(1 for e in g.entries if not e.skipped)
            for g in self._groups.values()
        )

    def run(self) -> list[GroupResult]:
        """Measure every group, one after another; return their results."""
        return [self._run_group(group) for group in self._groups.values()]

    def _run_group(self, group: _Group) -> GroupResult:
        settings = self.settings
        live: list[tuple[_Entry, Body, int]] = []
        for entry in group.entries:
            if entry.skipped or entry.setup is None:
                continue
            try:
                body = entry.setup()
            except ImportError as exc:
                entry.skipped = f"{exc.name or exc} not installed"
                self.progress.advance(steps=settings.rounds + settings.warmup)
                continue
            live.append((entry, body, _calibrate(body, settings.sample_time)))
        samples: dict[str, list[float]] = {entry.name: [] for entry, _, _ in live}
        for number in range(settings.warmup + settings.rounds):
            if live:
                shift = number % len(live)
                order = live[shift:] + live[:shift]
            else:
                order = []
            for entry, body, calls in order:
                elapsed = _time_calls(body, calls)
                if number >= settings.warmup:
                    samples[entry.name].append(elapsed / (calls * entry.ops))
                self.progress.advance(f"{group.name}: {entry.name}")
        rows = tuple(
            Row(
                name=entry.name,
                group=group.name,
                ops=entry.ops,
                samples=tuple(samples.get(entry.name, ())),
                note=entry.note,
                skipped=entry.skipped,
            )
            for entry in group.entries
        )
        return GroupResult(group.name, group.title, group.baseline, rows)


# -- threads --------------------------------------------------------------------------


def throughput(body: Body, *, ops: int, threads: int, duration: float) -> float:
    """Return the aggregate ops/s of ``threads`` threads calling ``body``.

    For ``duration`` seconds each thread calls ``body`` in a tight loop,
    checking a stop flag every few calls; the clock runs from the moment all
    threads are released until the last one has stopped.
    """
    stop = [False]
    calls: list[int] = []
    barrier = threading.Barrier(threads + 1)
    batch = 8

    def worker() -> None:
        done = 0
        barrier.wait()
        while not stop[0]:
            for _ in range(batch):
                body()
            done += batch
        calls.append(done)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(duration)
    stop[0] = True
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    return sum(calls) * ops / elapsed


def measure_scaling(
    bodies: Sequence[tuple[str, Setup | None, int, str | None]],
    *,
    threads: int = 8,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> list[ScalingRow]:
    """Compare aggregate throughput with ``threads`` threads against one thread.

    Args:
        bodies: ``(name, setup, ops, skip_reason)``; ``setup`` returns the body
            (an ``ImportError`` from it skips the row), ``None`` with a reason
            skips it outright.
        threads: The thread count compared with one thread.
        settings: ``scaling_time`` and ``scaling_rounds`` are used.
        progress: Advanced once per sample.

    Returns:
        One row per body; rounds interleave bodies and thread counts.
    """
    settings = settings if settings is not None else Settings()
    progress = progress if progress is not None else Progress(enabled=False)
    live: list[tuple[str, Body, int]] = []
    skipped: dict[str, str] = {}
    for name, setup, ops, reason in bodies:
        if setup is None or reason:
            skipped[name] = reason or "skipped"
            continue
        try:
            live.append((name, setup(), ops))
        except ImportError as exc:
            skipped[name] = f"{exc.name or exc} not installed"
    single: dict[str, list[float]] = {name: [] for name, _, _ in live}
    multi: dict[str, list[float]] = {name: [] for name, _, _ in live}
    for _ in range(settings.scaling_rounds):
        for name, body, ops in live:
            for count, sink in ((1, single), (threads, multi)):
                progress.advance(f"threads: {name} x{count}")
                sink[name].append(
                    throughput(
                        body, ops=ops, threads=count, duration=settings.scaling_time
                    )
                )
    rows = []
    for name, _, _, _ in bodies:
        if name in skipped:
            rows.append(ScalingRow(name, threads, (), (), skipped[name]))
        else:
            rows.append(
                ScalingRow(name, threads, tuple(single[name]), tuple(multi[name]))
            )
    return rows


def scaling_steps(count: int, settings: Settings) -> int:
    """Return the samples :func:`measure_scaling` takes for ``count`` bodies."""
    return count * 2 * settings.scaling_rounds


# -- command line -----------------------------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every benchmark module shares (``--quick``, ``--json``, ...)."""
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter rounds (~10 s)"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON ('-': stdout)"
    )
    parser.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="force the progress bar (default: only on a terminal)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a target is missed",
    )
    parser.add_argument(
        "--redis", metavar="URL", help="Redis URL for the shared-tier benchmarks"
    )
    parser.add_argument(
        "--postgres", metavar="DSN", help="Postgres DSN for the durable-tier benchmarks"
    )


def bench_main(
    run: Callable[[argparse.Namespace], Report | None],
    argv: Sequence[str] | None = None,
    *,
    description: str | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Run one benchmark module from the command line; return the exit status.

    Parses the common options (plus ``add_arguments``), calls ``run(args)``,
    prints the report, writes ``--json`` and applies ``--check``. ``run``
    returning ``None`` means nothing ran (e.g. no ``--redis`` given).
    """
    parser = argparse.ArgumentParser(description=description)
    add_common_arguments(parser)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    report = run(args)
    if report is None:
        return 0
    # With ``--json -`` stdout carries the JSON alone; the table goes to stderr.
    print(report.render(), file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        write_json(args.json, [report], settings={"quick": args.quick})
    return 1 if args.check and report.missed else 0


# -- the local scenarios -------------------------------------------------------------

VALUE: dict[str, Any] = {
    "id": 42,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "roles": ["admin", "editor"],
    "active": True,
}
"""A realistic small value: what a service caches for a user record."""

HIT_OPS = 20  # operations inlined per body call for the read rows
SET_OPS = 10
_KEYS = [f"user:{n}" for n in range(1000)]
_HIT_KEYS = {f"k{i}": _KEYS[i * 37 % len(_KEYS)] for i in range(HIT_OPS)}
_SET_MAX_BYTES = 4096  # ~45 entries of VALUE: every set of a new key evicts
_SET_MAXSIZE = 45
_SET_KEYS = 8192  # keys cycle long after they were evicted, so each set is new


def _loader() -> dict[str, Any]:
    return VALUE


def _hydra_get() -> Body:
    from ._cache import HydraCache

    cache = HydraCache.local(default_ttl=300)
    for key in _KEYS:
        cache.set(key, VALUE)
    return compile_loop("cache.get(k{i})", HIT_OPS, cache=cache, **_HIT_KEYS)


def _hydra_get_or_load() -> Body:
    from ._cache import HydraCache

    cache = HydraCache.local(default_ttl=300)
    for key in _KEYS:
        cache.set(key, VALUE)
    return compile_loop(
        "cache.get_or_load(k{i}, loader)",
        HIT_OPS,
        cache=cache,
        loader=_loader,
        **_HIT_KEYS,
    )


def _locked(ttl: bool) -> Body:
    from cachetools import LRUCache, TTLCache

    cache: LRUCache[str, Any] | TTLCache[str, Any] = (
        TTLCache(10_000, ttl=300) if ttl else LRUCache(maxsize=10_000)
    )
    for key in _KEYS:
        cache[key] = VALUE
    stmt = "with lock:\n    cache.get(k{i})"
    return compile_loop(stmt, HIT_OPS, cache=cache, lock=threading.Lock(), **_HIT_KEYS)


def _dogpile_get() -> Body:
    from dogpile.cache import make_region

    region = make_region().configure("dogpile.cache.memory")
    for key in _KEYS:
        region.set(key, VALUE)
    return compile_loop("region.get(k{i})", HIT_OPS, region=region, **_HIT_KEYS)


def _lru_cache_get() -> Body:
    import functools

    @functools.cache  # lru_cache(maxsize=None): the unbounded, fastest form
    def load(key: str) -> dict[str, Any]:
        return VALUE

    for key in _KEYS:
        load(key)
    return compile_loop("load(k{i})", HIT_OPS, load=load, **_HIT_KEYS)


def _set_keys() -> Iterable[str]:
    return itertools.cycle([f"item:{n}" for n in range(_SET_KEYS)])


def _hydra_set(keyword_ttl: bool = False) -> Body:
    from ._cache import HydraCache

    cache = HydraCache.local(
        max_bytes=_SET_MAX_BYTES, default_ttl=None if keyword_ttl else 300
    )
    ttl = ", ttl=300" if keyword_ttl else ""
    return compile_loop(
        f"cache.set(next(keys), value{ttl})",
        SET_OPS,
        cache=cache,
        keys=iter(_set_keys()),
        value=VALUE,
    )


def _ttl_set() -> Body:
    from cachetools import TTLCache

    cache: TTLCache[str, Any] = TTLCache(maxsize=_SET_MAXSIZE, ttl=300)
    stmt = "with lock:\n    cache[next(keys)] = value"
    return compile_loop(
        stmt,
        SET_OPS,
        cache=cache,
        lock=threading.Lock(),
        keys=iter(_set_keys()),
        value=VALUE,
    )


def _stampede_once(cache: Any, key: str, threads: int) -> tuple[int, int, int]:
    """Return loader runs, joins and callers served for one cold ``key``."""
    runs: list[int] = []
    results: list[object] = []
    barrier = threading.Barrier(threads)

    def load() -> dict[str, Any]:
        runs.append(1)
        time.sleep(0.05)  # a slow query: every other caller arrives meanwhile
        return dict(VALUE)

    def call() -> None:
        barrier.wait()
        results.append(cache.get_or_load(key, load))

    joins_before = cache.stats().joins
    workers = [threading.Thread(target=call) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    first = results[0] if results else None
    served = sum(1 for result in results if result is first)
    return len(runs), cache.stats().joins - joins_before, served


def _stampede(threads: int, trials: int) -> tuple[list[int], list[int], list[int]]:
    """Return per-trial loader runs, joins and callers served the loaded value."""
    from ._cache import HydraCache

    cache = HydraCache.local(default_ttl=300)
    outcomes = [_stampede_once(cache, f"cold:{t}", threads) for t in range(trials)]
    runs, joins, served = (list(column) for column in zip(*outcomes, strict=True))
    return runs, joins, served


def _peer_reason(module: str) -> str | None:
    """Return why a peer cannot be benchmarked here, or None when importable."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"{module} not installed"


def local_report(
    quick: bool = False, progress: bool | None = None, threads: int = 8
) -> Report:
    """Measure the local tier against its peers; return the report.

    Args:
        quick: About 10 s instead of about 40 s.
        progress: Progress bar: ``None`` only on a TTY, ``True`` forced,
            ``False`` off.
        threads: Thread count for the scaling comparison.
    """
    started = time.perf_counter()
    settings = Settings.for_run(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    cachetools_missing = _peer_reason("cachetools")
    dogpile_missing = _peer_reason("dogpile.cache")

    get_base = "LRUCache + Lock"
    harness.group(
        "get",
        baseline=get_base,
        title=f"get hit: {HIT_OPS} str keys, small-dict value (ns per get)",
    )
    harness.add("get", "HydraCache.get", setup=_hydra_get, ops=HIT_OPS)
    for name, ttl in ((get_base, False), ("TTLCache + Lock", True)):
        if cachetools_missing:
            harness.skip("get", name, cachetools_missing)
        else:
            harness.add(
                "get",
                name,
                setup=functools.partial(_locked, ttl),
                ops=HIT_OPS,
                note="cachetools, threading.Lock",
            )
    if dogpile_missing:
        harness.skip("get", "dogpile memory region.get", dogpile_missing)
    else:
        harness.add("get", "dogpile memory region.get", setup=_dogpile_get, ops=HIT_OPS)
    harness.add(
        "get",
        "functools.lru_cache",
        setup=_lru_cache_get,
        ops=HIT_OPS,
        note="maxsize=None: the floor",
    )

    set_base = "TTLCache + Lock set"
    harness.group(
        "set",
        baseline=set_base,
        title="set of a new key, every set evicts one entry (ns per set)",
    )
    harness.add(
        "set",
        "HydraCache.set",
        setup=_hydra_set,
        ops=SET_OPS,
        note=f"max_bytes={_SET_MAX_BYTES}, default_ttl=300",
    )
    harness.add(
        "set",
        "HydraCache.set(ttl=300)",
        setup=functools.partial(_hydra_set, keyword_ttl=True),
        ops=SET_OPS,
        note="per-call keyword option",
    )
    if cachetools_missing:
        harness.skip("set", set_base, cachetools_missing)
    else:
        harness.add(
            "set",
            set_base,
            setup=_ttl_set,
            ops=SET_OPS,
            note=f"maxsize={_SET_MAXSIZE}, ttl=300",
        )

    harness.group(
        "get_or_load",
        baseline="HydraCache.get",
        title="get_or_load hit against get hit (ns per call)",
    )
    harness.add("get_or_load", "HydraCache.get", setup=_hydra_get, ops=HIT_OPS)
    harness.add(
        "get_or_load",
        "HydraCache.get_or_load",
        setup=_hydra_get_or_load,
        ops=HIT_OPS,
    )

    scaling_rows: list[tuple[str, Setup | None, int, str | None]] = [
        ("HydraCache.get", _hydra_get, HIT_OPS, None),
        (get_base, functools.partial(_locked, False), HIT_OPS, cachetools_missing),
        ("dogpile memory region.get", _dogpile_get, HIT_OPS, dogpile_missing),
        ("functools.lru_cache", _lru_cache_get, HIT_OPS, None),
    ]
    bar.total = (
        harness.planned_steps()
        + scaling_steps(len(scaling_rows), settings)
        + settings.trials
    )
    try:
        groups = harness.run()
        scaling = measure_scaling(
            scaling_rows, threads=threads, settings=settings, progress=bar
        )
        stampede_threads = 32
        bar.advance("32 threads, one cold key", steps=0)
        runs, joins, served = _stampede(stampede_threads, settings.trials)
        bar.advance(steps=settings.trials)
    finally:
        bar.close()

    by_name = {g.name: g for g in groups}
    hydra_scaling = next(s for s in scaling if s.name == "HydraCache.get")
    report = Report(
        title=(
            "hydracache_sync local tier "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        scaling=scaling,
        scaling_title=f"get-hit throughput, {threads} threads against 1 (aggregate)",
        counts=[
            Count("loader runs", tuple(runs), 1),
            Count("joins (waited on the leader)", tuple(joins), stampede_threads - 1),
            Count(
                "callers served the loaded value",
                tuple(served),
                stampede_threads,
            ),
        ],
        counts_title=f"{stampede_threads} threads, one cold key, get_or_load",
        targets=[
            Target(
                f"get hit / {get_base}",
                by_name["get"].ratio("HydraCache.get"),
                "<=",
                0.8,
            ),
            Target(
                f"{threads}-thread / 1-thread get-hit throughput",
                hydra_scaling.ratio,
                ">=",
                0.8,
            ),
            Target(
                f"set / {set_base}",
                by_name["set"].ratio("HydraCache.set"),
                "<=",
                1.0,
            ),
            Target(
                "get_or_load hit / get hit",
                by_name["get_or_load"].ratio("HydraCache.get_or_load"),
                "<=",
                1.2,
            ),
            Target(
                f"loader runs for {stampede_threads} threads (worst trial)",
                float(max(runs)),
                "==",
                1,
                unit="",
            ),
        ],
        notes=[
            "ratios are medians of per-round ratios (rows interleaved per round)",
            "p25/p75: spread of the per-round samples",
        ],
    )
    if cachetools_missing or dogpile_missing:
        report.notes.append(
            "peers missing: pip install 'hydracache_sync[dev]' to compare with them"
        )
    report.seconds = time.perf_counter() - started
    return report


# -- the tier scenarios: Redis, Postgres, coherence across processes ------------------
#
# Each report below runs against a live server, in a sandbox it removes at the
# end: a unique Redis key prefix (every key under it is unlinked) and a unique
# Postgres schema (created with the shipped migration, then dropped). The
# drivers are reached through the stores (``RedisStore.client``) or imported
# inside functions, so importing this module needs neither.

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
ENV_REDIS_URL = "HYDRACACHE_REDIS_URL"
ENV_POSTGRES_DSN = "HYDRACACHE_POSTGRES_DSN"

TIER_OPS = 10  # single-key remote reads inlined per body call
BATCH_KEYS = 100  # keys per get_many / MGET / ANY(%s)
GONE = 1e-6
"""Local TTL bound making every promoted copy expire before its next read.

With ``promotion=TierTTLs(local=GONE)`` each read of a remote row finds the
copy the previous read of that key promoted already expired: it pays the local
lookup (and dropping the dead copy), the remote read, unpack and decode, and
the promotion itself (a local put under the lock), every time.
"""


def tier_settings(quick: bool) -> Settings:
    """Return the settings of the tier reports (all three: ~20 s, quick: ~12 s).

    A remote read takes tens of microseconds, so a 40 ms sample still holds
    hundreds of them; 15 interleaved rounds keep the paired ratios stable.
    """
    if quick:
        return Settings(
            rounds=7,
            warmup=1,
            sample_time=0.02,
            scaling_time=0.1,
            scaling_rounds=3,
            trials=2,
        )
    return Settings(
        rounds=15,
        warmup=2,
        sample_time=0.04,
        scaling_time=0.1,
        scaling_rounds=8,
        trials=3,
    )


_TIER_KEYS = [f"user:{n}" for n in range(BATCH_KEYS)]
_TIER_NAMES = {f"k{i}": _TIER_KEYS[i] for i in range(TIER_OPS)}


def resolve_redis_url(given: str | None = None) -> str:
    """Return ``given``, else ``$HYDRACACHE_REDIS_URL``, else the local server."""
    return given or os.environ.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL


def resolve_postgres_dsn(given: str | None = None) -> str:
    """Return ``given``, else ``$HYDRACACHE_POSTGRES_DSN``, else the local server."""
    return given or os.environ.get(ENV_POSTGRES_DSN) or DEFAULT_POSTGRES_DSN


def _mask(url: str) -> str:
    """Hide a password in a URL or a ``key=value`` DSN before it is printed."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in url:
        return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def redis_unreachable(url: str) -> str | None:
    """Return why the Redis benchmarks cannot run on ``url``, or None."""
    try:
        from .tiers.redis import RedisStore

        store = RedisStore.from_url(url, prefix="hcbench:probe:")
    except Exception as exc:  # MissingDependencyError, ConfigError
        return _first_line(exc)
    try:
        store.client.ping()
    except Exception as exc:  # any driver error means: not usable here
        return f"cannot reach {_mask(url)}: {_first_line(exc)}"
    finally:
        store.close()
    return None


def postgres_unreachable(dsn: str) -> str | None:
    """Return why the Postgres benchmarks cannot run on ``dsn``, or None."""
    try:
        import psycopg2  # noqa: TID251  (the raw-driver baseline and the sandbox)
    except ImportError:
        return "psycopg2 not installed: pip install 'hydracache_sync[postgres]'"
    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"cannot connect to {_mask(dsn)}: {_first_line(exc)}"
    return None


class _RedisSandbox:
    """A unique key prefix on a shared Redis; :meth:`remove` unlinks all under it."""

    def __init__(self, url: str) -> None:
        import uuid

        self.url = url
        self.prefix = f"hcbench:{uuid.uuid4().hex[:12]}:"

    def store(self) -> Any:
        """Return a new ``RedisStore`` on the sandbox prefix (its own client)."""
        from .tiers.redis import RedisStore

        return RedisStore.from_url(self.url, prefix=self.prefix)

    def remove(self) -> int:
        """Unlink every key under the prefix; return how many are left (0)."""
        store = self.store()
        try:
            client = store.client
            match = self.prefix + "*"  # the prefix holds no glob metacharacters
            for _ in range(3):
                keys = list(client.scan_iter(match=match, count=1000))
                for start in range(0, len(keys), 1000):
                    client.unlink(*keys[start : start + 1000])
                if not keys:
                    break
            return len(list(client.scan_iter(match=match, count=1000)))
        finally:
            store.close()


def _wait_listening(cache: Any, timeout: float = 5.0) -> None:
    """Wait until ``cache``'s invalidation listener is subscribed."""
    deadline = time.monotonic() + timeout
    while not cache.listening:
        if time.monotonic() > deadline:
            raise RuntimeError("the invalidation listener did not subscribe in time")
        time.sleep(0.002)


def _closing(caches: list[Any], cache: Any) -> Any:
    caches.append(cache)
    return cache


def _hits_note(stats: Any, counter: str) -> str:
    """Check the method: every read of the remote rows should be a remote hit."""
    remote = f"{getattr(stats, counter):,} {counter.replace('_', ' ')}"
    return f"the reader counted {remote} and {stats.local_hits} local hits (0 expected)"


def redis_report(
    url: str | None = None, quick: bool = False, progress: bool | None = None
) -> Report:
    """Measure the shared tier on Redis against redis-py and dogpile.cache.

    Groups: a shared-tier hit (local miss, GET, decode, promotion) against a
    raw ``GET`` of the same bytes on the same client; ``get_many`` of 100
    keys against one raw ``MGET``; a local hit in a cache with Redis and its
    listener against a memory-only cache.

    Args:
        url: The server (default: :func:`resolve_redis_url`).
        quick: Fewer, shorter rounds.
        progress: Progress bar: ``None`` only on a TTY.
    """
    from ._cache import HydraCache
    from ._placement import TierTTLs

    started = time.perf_counter()
    url = resolve_redis_url(url)
    settings = tier_settings(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = _RedisSandbox(url)
    caches: list[Any] = []
    dogpile_missing = _peer_reason("dogpile.cache")
    keys = list(_TIER_KEYS)
    try:
        writer = _closing(caches, HydraCache(shared=sandbox.store(), broadcast=False))
        writer.set_many(dict.fromkeys(keys, VALUE), ttl=3600)
        raw_store = sandbox.store()
        caches.append(raw_store)
        client = raw_store.client
        value_keys = [raw_store.value_key(key) for key in keys]
        v_names = {f"k{i}": value_keys[i] for i in range(TIER_OPS)}
        if any(client.get(k) is None for k in value_keys):
            raise RuntimeError("the benchmark keys did not reach Redis")

        # A cache with the default configuration (listener running), whose
        # local copies never survive until their next read.
        reader = _closing(
            caches,
            HydraCache(shared=sandbox.store(), promotion=TierTTLs(local=GONE)),
        )
        _wait_listening(reader)

        def dogpile_region() -> Any:
            from dogpile.cache import make_region

            region = make_region(key_mangler=lambda key: sandbox.prefix + "dp:" + key)
            region.configure(
                "dogpile.cache.redis",
                arguments={"url": url, "redis_expiration_time": 3600},
            )
            for key in keys:
                region.set(key, VALUE)
            return region

        hit_base = "redis-py GET"
        harness.group(
            "shared",
            baseline=hit_base,
            title=(
                f"shared-tier hit: {TIER_OPS} keys, local miss + Redis GET + decode "
                "+ promotion (ns per read)"
            ),
        )
        harness.add(
            "shared",
            hit_base,
            compile_loop("get(k{i})", TIER_OPS, get=client.get, **v_names),
            ops=TIER_OPS,
            note="the same envelope bytes, through the store's own client",
        )
        harness.add(
            "shared",
            "HydraCache.get",
            compile_loop("cache.get(k{i})", TIER_OPS, cache=reader, **_TIER_NAMES),
            ops=TIER_OPS,
            note="TierTTLs(local=1us): every read finds its promoted copy expired",
        )
        if dogpile_missing:
            harness.skip("shared", "dogpile redis region.get", dogpile_missing)
        else:
            harness.add(
                "shared",
                "dogpile redis region.get",
                setup=lambda: compile_loop(
                    "region.get(k{i})",
                    TIER_OPS,
                    region=dogpile_region(),
                    **_TIER_NAMES,
                ),
                ops=TIER_OPS,
                note="dogpile.cache.redis: GET + pickle, no local tier",
            )

        many_base = f"redis-py MGET ({BATCH_KEYS} keys)"
        harness.group(
            "many",
            baseline=many_base,
            title=(
                f"get_many of {BATCH_KEYS} keys, all in Redis, none local (ns per call)"
            ),
        )
        harness.add(
            "many",
            many_base,
            functools.partial(client.mget, value_keys),
            note="one MGET of the value keys",
        )
        harness.add(
            "many",
            f"HydraCache.get_many ({BATCH_KEYS} keys)",
            functools.partial(reader.get_many, keys),
            note="every key: local miss, MGET, decode, promotion",
        )
        if dogpile_missing:
            harness.skip("many", "dogpile redis region.get_multi", dogpile_missing)
        else:
            harness.add(
                "many",
                "dogpile redis region.get_multi",
                setup=lambda: functools.partial(dogpile_region().get_multi, keys),
                note="MGET + pickle",
            )

        def redis_backed() -> Body:
            cache = _closing(
                caches,
                HydraCache(
                    shared=sandbox.store(),
                    default_ttl=300,
                    promotion=TierTTLs(local=300),
                ),
            )
            _wait_listening(cache)
            for key in _KEYS:
                cache.set(key, VALUE)
            if not all(key in cache.local_store.entries for key in _KEYS):
                raise RuntimeError("no local copies: the listener is not subscribed")
            return compile_loop("cache.get(k{i})", HIT_OPS, cache=cache, **_HIT_KEYS)

        local_base = "memory-only HydraCache.get"
        harness.group(
            "local",
            baseline=local_base,
            title=f"local hit: {HIT_OPS} keys, small-dict value (ns per get)",
        )
        harness.add(
            "local",
            local_base,
            setup=_hydra_get,
            ops=HIT_OPS,
            note="HydraCache.local(default_ttl=300)",
        )
        harness.add(
            "local",
            "HydraCache.get, Redis tier + listener",
            setup=redis_backed,
            ops=HIT_OPS,
            note="shared=RedisStore, broadcast on, local copies of Redis entries",
        )

        bar.total = harness.planned_steps()
        try:
            groups = harness.run()
        finally:
            bar.close()
        reader_stats = reader.stats()
    finally:
        for item in reversed(caches):
            with contextlib.suppress(Exception):
                item.close()
        left = sandbox.remove()

    by_name = {g.name: g for g in groups}
    report = Report(
        title=(
            "hydracache_sync shared tier on Redis "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, loopback, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        targets=[
            Target(
                f"shared-tier hit / {hit_base}",
                by_name["shared"].ratio("HydraCache.get"),
                "<=",
                1.1,
            ),
            Target(
                f"get_many({BATCH_KEYS}) / MGET",
                by_name["many"].ratio(f"HydraCache.get_many ({BATCH_KEYS} keys)"),
                "<=",
                1.2,
            ),
            Target(
                "local hit with Redis + listener / memory-only",
                by_name["local"].ratio("HydraCache.get, Redis tier + listener"),
                "<=",
                1.1,
            ),
        ],
        notes=[
            "ratios are medians of per-round ratios (rows interleaved per round)",
            "shared-tier rows: promotion=TierTTLs(local=1us), so each read's local "
            "copy is expired by its next read: the read pays the local lookup and "
            "the drop of the dead copy, GET, unpack + CBOR decode and the "
            "promotion (local put under the lock); "
            + _hits_note(reader_stats, "shared_hits"),
            f"sandbox prefix {sandbox.prefix!r}: {left} keys left after cleanup",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report


class _PostgresSandbox:
    """A unique schema holding the shipped migration; :meth:`drop` removes it."""

    table = "hydracache"

    def __init__(self, dsn: str) -> None:
        import uuid

        self.dsn = dsn
        self.schema = f"hcbench_{uuid.uuid4().hex[:12]}"

    def connect(self) -> Any:
        """Return an autocommit connection with the store's connection settings.

        ``PostgresStore`` opens its pool with these (``connect_timeout``, a
        ``statement_timeout`` of 2 s, ``application_name``) and autocommit.
        """
        import psycopg2  # noqa: TID251  (the raw-driver baseline)

        conn = psycopg2.connect(
            self.dsn,
            connect_timeout="3",
            options="-c statement_timeout=2000",
            application_name="hydracache_sync",
        )
        conn.autocommit = True
        return conn

    def create(self) -> None:
        from psycopg2 import sql  # noqa: TID251

        from .tiers.postgres import migration_sql

        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema))
                )
                cur.execute(migration_sql(self.schema, self.table))
        finally:
            conn.close()

    def drop(self) -> bool:
        """Drop the schema (only ours); tell whether it is gone."""
        from psycopg2 import sql  # noqa: TID251

        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(self.schema)
                    )
                )
                cur.execute(
                    "SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                    (self.schema,),
                )
                row = cur.fetchone()
            return bool(row is not None and row[0] == 0)
        finally:
            conn.close()

    def query(self, conn: Any, template: str) -> str:
        """Render ``template`` with ``{table}`` as the quoted table name."""
        from psycopg2 import sql  # noqa: TID251

        table = sql.Identifier(self.schema, self.table)
        return sql.SQL(template).format(table=table).as_string(conn)


def _waiting_pool(sandbox: _PostgresSandbox, size: int) -> Any:
    """Return a psycopg2 pool of ``size`` connections where callers wait their turn.

    Written when ``PostgresStore`` did not yet wait for a busy connection (it
    now does, up to ``pool_timeout``); kept so the scaling rows measure a pool
    with the store's connection settings (autocommit, ``statement_timeout``)
    whose ``size`` alone limits the concurrency.
    """
    from psycopg2.extensions import connection  # noqa: TID251
    from psycopg2.pool import ThreadedConnectionPool  # noqa: TID251

    class WaitingPool(ThreadedConnectionPool):
        def __init__(self) -> None:
            super().__init__(
                size,
                size,
                sandbox.dsn,
                connect_timeout="3",
                options="-c statement_timeout=2000",
                application_name="hydracache_sync",
            )
            self.slots = threading.BoundedSemaphore(size)

        def getconn(self, key: Any = None) -> connection:
            self.slots.acquire()
            try:
                conn = super().getconn(key)
            except BaseException:
                self.slots.release()
                raise
            if not conn.autocommit:
                conn.autocommit = True
            return conn

        def putconn(
            self, conn: connection | None = None, key: Any = None, close: bool = False
        ) -> None:
            try:
                super().putconn(conn, key, close)
            finally:
                self.slots.release()

    return WaitingPool()


@contextlib.contextmanager
def _quiet_tier_warnings() -> Iterator[None]:
    """Mute the degrade warnings of a run that provokes tier errors on purpose."""
    import logging

    logger = logging.getLogger("hydracache_sync")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _exhausted_pool_run(
    sandbox: _PostgresSandbox, threads: int, duration: float
) -> tuple[float, int, int]:
    """8 threads on the store's own 1-connection pool: (hits/s, hits, tier errors)."""
    from ._cache import HydraCache
    from ._placement import TierTTLs
    from .tiers.postgres import PostgresStore

    store = PostgresStore(
        sandbox.dsn,
        schema=sandbox.schema,
        table=sandbox.table,
        min_connections=1,
        max_connections=1,
    )
    cache = HydraCache(durable=store, promotion=TierTTLs(local=GONE))
    try:
        body = compile_loop("cache.get(k{i})", TIER_OPS, cache=cache, **_TIER_NAMES)
        body()  # prepares the connection
        before = cache.stats()
        with _quiet_tier_warnings():
            started = time.perf_counter()
            throughput(body, ops=TIER_OPS, threads=threads, duration=duration)
            elapsed = time.perf_counter() - started
        after = cache.stats()
    finally:
        cache.close()
    hits = after.durable_hits - before.durable_hits
    return hits / elapsed, hits, after.tier_errors - before.tier_errors


def postgres_report(
    dsn: str | None = None,
    quick: bool = False,
    progress: bool | None = None,
    threads: int = 8,
) -> Report:
    """Measure the durable tier on Postgres against raw psycopg2.

    Groups: a durable hit (no shared tier, local copy gone) against a raw
    ``SELECT value ... WHERE key = %s``; ``get_many`` of 100 keys against one
    raw ``WHERE key = ANY(%s)``; durable-hit throughput of ``threads`` threads
    against one with a pool of 8 and of 1 connection.

    Args:
        dsn: The server (default: :func:`resolve_postgres_dsn`).
        quick: Fewer, shorter rounds.
        progress: Progress bar: ``None`` only on a TTY.
        threads: Thread count for the scaling rows.
    """
    from ._cache import HydraCache
    from ._placement import Cost, TierTTLs
    from .tiers.postgres import PostgresStore

    started = time.perf_counter()
    dsn = resolve_postgres_dsn(dsn)
    settings = tier_settings(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = _PostgresSandbox(dsn)
    sandbox.create()
    closers: list[Any] = []
    keys = list(_TIER_KEYS)
    try:

        def durable_cache(pool: Any = None, size: int = 8) -> Any:
            store = PostgresStore(
                sandbox.dsn if pool is None else pool,
                schema=sandbox.schema,
                table=sandbox.table,
                min_connections=1,
                max_connections=size,
            )
            return _closing(
                closers, HydraCache(durable=store, promotion=TierTTLs(local=GONE))
            )

        reader = durable_cache()
        reader.set_many(dict.fromkeys(keys, VALUE), ttl=3600, cost=Cost.EXPENSIVE)
        conn = _closing(closers, sandbox.connect())
        one = sandbox.query(conn, "SELECT value FROM {table} WHERE key = %s")
        many = sandbox.query(conn, "SELECT key, value FROM {table} WHERE key = ANY(%s)")

        def select(key: str) -> Any:
            with conn.cursor() as cur:
                cur.execute(one, (key,))
                return cur.fetchone()

        def select_many(key_list: list[str]) -> Any:
            with conn.cursor() as cur:
                cur.execute(many, (key_list,))
                return cur.fetchall()

        if select(keys[0]) is None or len(select_many(keys)) != len(keys):
            raise RuntimeError("the benchmark rows did not reach Postgres")

        hit_base = "psycopg2 SELECT"
        harness.group(
            "durable",
            baseline=hit_base,
            title=(
                f"durable hit: {TIER_OPS} keys, local miss + SELECT + decode "
                "+ promotion (ns per read)"
            ),
        )
        harness.add(
            "durable",
            hit_base,
            compile_loop("select(k{i})", TIER_OPS, select=select, **_TIER_NAMES),
            ops=TIER_OPS,
            note="SELECT value ... WHERE key = %s, one autocommit connection",
        )
        harness.add(
            "durable",
            "HydraCache.get",
            compile_loop("cache.get(k{i})", TIER_OPS, cache=reader, **_TIER_NAMES),
            ops=TIER_OPS,
            note="durable=PostgresStore only, TierTTLs(local=1us)",
        )
        many_base = f"psycopg2 ANY(%s) ({BATCH_KEYS} keys)"
        harness.group(
            "many",
            baseline=many_base,
            title=f"get_many of {BATCH_KEYS} keys, none local (ns per call)",
        )
        harness.add(
            "many",
            many_base,
            functools.partial(select_many, keys),
            note="SELECT key, value ... WHERE key = ANY(%s)",
        )
        harness.add(
            "many",
            f"HydraCache.get_many ({BATCH_KEYS} keys)",
            functools.partial(reader.get_many, keys),
            note="every key: local miss, one query, decode, promotion",
        )

        def pooled(size: int, waiting: bool) -> Body:
            pool = _waiting_pool(sandbox, size) if waiting else None
            if pool is not None:
                closers.append(pool)
            cache = durable_cache(pool, size)
            body = compile_loop("cache.get(k{i})", TIER_OPS, cache=cache, **_TIER_NAMES)
            # Open and prepare every connection before timing.
            throughput(body, ops=TIER_OPS, threads=size, duration=0.05)
            return body

        scaling_rows: list[tuple[str, Setup | None, int, str | None]] = [
            (
                "pool 8: PostgresStore(max_connections=8)",
                functools.partial(pooled, 8, False),
                TIER_OPS,
                None,
            ),
            (
                "pool 1: one connection, threads wait",
                functools.partial(pooled, 1, True),
                TIER_OPS,
                None,
            ),
        ]
        bar.total = (
            harness.planned_steps() + scaling_steps(len(scaling_rows), settings) + 1
        )
        try:
            groups = harness.run()
            scaling = measure_scaling(
                scaling_rows,
                threads=threads,
                settings=settings,
                progress=bar,
            )
            bar.advance("own pool of 1, 8 threads")
            exhausted = _exhausted_pool_run(sandbox, threads, settings.scaling_time)
        finally:
            bar.close()
        reader_stats = reader.stats()
        scaled_errors = sum(
            c.stats().tier_errors for c in closers if isinstance(c, HydraCache)
        )
    finally:
        for item in reversed(closers):  # caches before the pools they borrow
            close = getattr(item, "closeall", None) or item.close
            with contextlib.suppress(Exception):
                close()
        dropped = sandbox.drop()

    by_name = {g.name: g for g in groups}
    pool8, pool1 = scaling
    rate, hits, errors = exhausted
    report = Report(
        title=(
            "hydracache_sync durable tier on Postgres "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, loopback, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        scaling=scaling,
        scaling_title=(
            f"durable-hit throughput, {threads} threads against 1 (aggregate, "
            f"{settings.scaling_rounds} rounds)"
        ),
        targets=[
            Target(
                f"durable hit / {hit_base}",
                by_name["durable"].ratio("HydraCache.get"),
                "<=",
                1.0,
            ),
            Target(
                f"get_many({BATCH_KEYS}) / ANY(%s)",
                by_name["many"].ratio(f"HydraCache.get_many ({BATCH_KEYS} keys)"),
                "<=",
                1.2,
            ),
        ],
        notes=[
            "ratios are medians of per-round ratios (rows interleaved per round)",
            "durable rows: promotion=TierTTLs(local=1us), so each read's local "
            "copy is expired by its next read (local lookup and drop of the dead "
            "copy, prepared SELECT through the store's pool, decode, promotion); "
            + _hits_note(reader_stats, "durable_hits"),
            f"thread scaling: pool 8 ratio {pool8.ratio:.2f}x, pool 1 ratio "
            f"{pool1.ratio:.2f}x; {scaled_errors} tier errors in all rows",
            f"the store's own pool, max_connections=1, {threads} threads (callers "
            f"wait for the connection up to pool_timeout): {errors:,} tier "
            f"errors, {rate:,.0f} durable hits/s ({hits:,} hits)",
            f"sandbox schema {sandbox.schema!r} "
            + ("dropped" if dropped else "NOT dropped"),
        ],
    )
    report.seconds = time.perf_counter() - started
    return report


# -- coherence across processes --------------------------------------------------------

_VISIBILITY_CHILD = """
import json, sys, time
from hydracache_sync import HydraCache, RedisStore, TierTTLs
url, prefix, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
cache = HydraCache(shared=RedisStore.from_url(url, prefix=prefix),
                   promotion=TierTTLs(local=60))
deadline = time.monotonic() + 5
while not cache.listening and time.monotonic() < deadline:
    time.sleep(0.002)
print("ready", cache.listening, flush=True)
for r in range(rounds):
    sys.stdin.readline()
    old = f"v{r}"
    # The parent's set() announced the key (two messages per earlier round, one
    # now): wait for it, so the copy promoted below is not dropped by it.
    deadline = time.monotonic() + 2
    while (cache.stats().remote_invalidations < 2 * r + 1
           and time.monotonic() < deadline):
        time.sleep(0.0005)
    value = cache.get("k")
    print("loaded", json.dumps([value == old, "k" in cache.local_store.entries]),
          flush=True)
    while cache.get("k") == old:
        time.sleep(0.0005)
    print("seen", json.dumps(time.time()), flush=True)
cache.close()
"""

_LOADER_CHILD = """
import json, sys, threading, time
from hydracache_sync import HydraCache, RedisStore
url, prefix = sys.argv[1], sys.argv[2]
threads, delay = int(sys.argv[3]), float(sys.argv[4])
store = RedisStore.from_url(url, prefix=prefix)
client = store.client
cache = HydraCache(shared=store)
deadline = time.monotonic() + 5
while not cache.listening and time.monotonic() < deadline:
    time.sleep(0.002)
print("ready", flush=True)
for line in sys.stdin:
    key, mode = line.split()
    lock = "redis" if mode == "redis" else None

    def loader():
        client.incr(prefix + "runs:" + key)
        time.sleep(delay)
        return "value:" + key

    barrier = threading.Barrier(threads)
    results = []

    def work():
        barrier.wait()
        results.append(cache.get_or_load(key, loader, lock=lock))

    before = cache.stats()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    after = cache.stats()
    print("done", json.dumps({
        "served": sum(1 for r in results if r == "value:" + key),
        "loads": after.loads - before.loads,
        "lock_waits": after.lock_waits - before.lock_waits,
        "lock_timeouts": after.lock_timeouts - before.lock_timeouts,
    }), flush=True)
cache.close()
"""


class _Child:
    """A helper interpreter speaking a line protocol on its stdin/stdout."""

    def __init__(self, code: str, *args: str) -> None:
        import subprocess
        from pathlib import Path

        root = str(Path(__file__).resolve().parent.parent)
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
        # This interpreter running this module's own helper code: nothing untrusted.
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", textwrap.dedent(code), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )

    def send(self, line: str) -> None:
        """Write one line to the child."""
        stdin = self.proc.stdin
        if stdin is None:
            raise RuntimeError("the helper process has no stdin")
        stdin.write(line + "\n")
        stdin.flush()

    def expect(self, word: str, timeout: float = 20.0) -> str:
        """Return the rest of the next line starting with ``word``."""
        stdout = self.proc.stdout
        if stdout is None:
            raise RuntimeError("the helper process has no stdout")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(
                    f"helper process ended before {word!r}: {err[-800:]}"
                )
            if line.startswith(word):
                return line[len(word) :].strip()
        raise RuntimeError(f"no {word!r} from the helper process in {timeout} s")

    def close(self) -> None:
        """End the child (closing its stdin ends its loop) and reap it."""
        import subprocess

        with contextlib.suppress(Exception):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.communicate(timeout=5)


def _visibility(
    children: Sequence[_Child], writer: Any, rounds: int
) -> tuple[list[list[float]], int]:
    """Return per-child latencies (s) from invalidate_tag to a worker's miss.

    Also returns how many loads found no local copy to invalidate.
    """
    latencies: list[list[float]] = [[] for _ in children]
    uncached = 0
    for r in range(rounds):
        writer.set("k", f"v{r}", tags=["t"])
        for child in children:
            child.send("go")
        for child in children:
            had_old, local = json.loads(child.expect("loaded"))
            if not had_old:
                raise RuntimeError("a worker did not read the value just written")
            uncached += not local
        started = time.time()
        writer.invalidate_tag("t")
        for index, child in enumerate(children):
            seen = json.loads(child.expect("seen"))
            latencies[index].append(seen - started)
    return latencies, uncached


def _loader_trials(
    children: Sequence[_Child], client: Any, prefix: str, trials: int
) -> dict[str, list[tuple[int, int]]]:
    """Return, per mode, (loader runs, callers served) for one cold key per trial."""
    outcomes: dict[str, list[tuple[int, int]]] = {"none": [], "redis": []}
    for trial in range(trials):
        for mode in ("none", "redis"):
            key = f"cold:{mode}:{trial}"
            for child in children:
                child.send(f"{key} {mode}")
            served = sum(
                json.loads(child.expect("done", 30))["served"] for child in children
            )
            runs = int(client.get(prefix + "runs:" + key) or 0)
            outcomes[mode].append((runs, served))
    return outcomes


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    return ordered[int(fraction * (len(ordered) - 1))]


def coherence_report(
    url: str | None = None,
    quick: bool = False,
    progress: bool | None = None,
    *,
    workers: int = 2,
    lock_processes: int = 4,
    lock_threads: int = 8,
    loader_delay: float = 0.3,
) -> Report:
    """Measure coherence across processes sharing one Redis.

    Invalidation visibility (``workers`` processes, 50 rounds, 20 quick),
    loader runs for one cold key from ``lock_processes`` x ``lock_threads``
    callers with and without ``lock="redis"``, and the local-hit cost of the
    invalidation listener.

    Args:
        url: The server (default: :func:`resolve_redis_url`).
        quick: Fewer rounds and trials.
        progress: Progress bar: ``None`` only on a TTY.
    """
    from ._cache import HydraCache
    from ._placement import TierTTLs

    started = time.perf_counter()
    url = resolve_redis_url(url)
    settings = tier_settings(quick)
    rounds = 20 if quick else 50
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = _RedisSandbox(url)
    closers: list[Any] = []
    children: list[_Child] = []
    try:
        writer = _closing(closers, HydraCache(shared=sandbox.store()))
        _wait_listening(writer)
        admin = _closing(closers, sandbox.store())
        watchers = [
            _Child(_VISIBILITY_CHILD, url, sandbox.prefix, str(rounds))
            for _ in range(workers)
        ]
        loaders = [
            _Child(
                _LOADER_CHILD,
                url,
                sandbox.prefix,
                str(lock_threads),
                str(loader_delay),
            )
            for _ in range(lock_processes)
        ]
        children = watchers + loaders
        for child in watchers:
            if child.expect("ready") != "True":
                raise RuntimeError("a worker's invalidation listener did not subscribe")
        for child in loaders:
            child.expect("ready")

        def hit_cache(broadcast: bool) -> Body:
            cache = _closing(
                closers,
                HydraCache(
                    shared=sandbox.store(),
                    default_ttl=300,
                    promotion=TierTTLs(local=300),
                    broadcast=broadcast,
                ),
            )
            if broadcast:
                _wait_listening(cache)
            for key in _KEYS:
                cache.set(key, VALUE)
            if not all(key in cache.local_store.entries for key in _KEYS):
                raise RuntimeError("no local copies to hit")
            return compile_loop("cache.get(k{i})", HIT_OPS, cache=cache, **_HIT_KEYS)

        hit_base = "broadcast=False"
        harness.group(
            "hit",
            baseline=hit_base,
            title=(
                f"local hit with and without the invalidation listener: {HIT_OPS} "
                "keys (ns per get)"
            ),
        )
        harness.add(
            "hit",
            hit_base,
            setup=functools.partial(hit_cache, False),
            ops=HIT_OPS,
            note="HydraCache(shared=RedisStore, broadcast=False)",
        )
        harness.add(
            "hit",
            "broadcast=True, listener running",
            setup=functools.partial(hit_cache, True),
            ops=HIT_OPS,
            note="the default: a thread subscribed to the channel",
        )
        bar.total = rounds + 2 * settings.trials + harness.planned_steps()
        try:
            bar.advance("invalidation visibility", steps=0)
            latencies, uncached = _visibility(watchers, writer, rounds)
            bar.advance(steps=rounds)
            bar.advance(f"{lock_processes} processes, one cold key", steps=0)
            outcomes = _loader_trials(
                loaders, admin.client, sandbox.prefix, settings.trials
            )
            bar.advance(steps=2 * settings.trials)
            for child in children:
                child.close()
            children = []
            groups = harness.run()
        finally:
            bar.close()
    finally:
        for child in children:
            child.close()
        for item in reversed(closers):
            with contextlib.suppress(Exception):
                item.close()
        left = sandbox.remove()

    def latency_row(name: str, seconds: Sequence[float]) -> Row:
        return Row(name, "visibility", 1, tuple(s * 1e9 for s in seconds))

    every = sorted(s for per_child in latencies for s in per_child)
    p50, p99 = _percentile(every, 0.5), _percentile(every, 0.99)
    visibility = GroupResult(
        "visibility",
        (
            f"invalidation visibility: invalidate_tag in this process until "
            f"{workers} worker processes miss ({rounds} rounds, ns)"
        ),
        None,
        (
            *(
                latency_row(f"worker {index + 1}", per_child)
                for index, per_child in enumerate(latencies)
            ),
            latency_row("all workers", every),
        ),
    )
    callers = lock_processes * lock_threads
    no_lock = outcomes["none"]
    locked = outcomes["redis"]
    hit_group = groups[0]
    report = Report(
        title=(
            "hydracache_sync coherence across processes on Redis "
            f"({'quick, ' if quick else ''}loopback, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=[visibility, *groups],
        counts=[
            Count("loader runs, no lock", tuple(r for r, _ in no_lock), lock_processes),
            Count("loader runs, lock='redis'", tuple(r for r, _ in locked), 1),
            Count(
                "callers served the value, no lock",
                tuple(s for _, s in no_lock),
                callers,
            ),
            Count(
                "callers served the value, lock='redis'",
                tuple(s for _, s in locked),
                callers,
            ),
        ],
        counts_title=(
            f"one cold key from {lock_processes} processes x {lock_threads} threads, "
            f"loader sleeps {loader_delay:g} s (per trial)"
        ),
        targets=[
            Target(
                f"visibility p99 ({len(every)} samples)",
                round(p99 * 1000, 2),
                "<=",
                50.0,
                unit=" ms",
            ),
            Target(
                "loader runs with lock='redis' (worst trial)",
                float(max(r for r, _ in locked)),
                "==",
                1,
                unit="",
            ),
            Target(
                "loader runs without a lock (worst trial; one per process)",
                float(max(r for r, _ in no_lock)),
                "<=",
                lock_processes,
                unit="",
            ),
            Target(
                f"hit with listener / {hit_base}",
                hit_group.ratio("broadcast=True, listener running"),
                "<=",
                1.05,
            ),
        ],
        notes=[
            f"visibility p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max "
            f"{every[-1] * 1000:.2f} ms; workers poll every 0.5 ms; "
            f"{uncached} of {rounds * workers} loads held no local copy",
            "visibility: clocks are time.time() of one machine; each worker holds "
            "a promoted local copy (TierTTLs(local=60)) that only the broadcast "
            "can drop",
            f"sandbox prefix {sandbox.prefix!r}: {left} keys left after cleanup",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report


def tier_reports(
    redis_url: str | None, postgres_dsn: str | None
) -> list[tuple[str, str, Callable[..., Report]]]:
    """Return ``(name, target, report function)`` for the tiers given."""
    found: list[tuple[str, str, Callable[..., Report]]] = []
    if redis_url:
        found.append(("redis", redis_url, redis_report))
    if postgres_dsn:
        found.append(("postgres", postgres_dsn, postgres_report))
    if redis_url:
        found.append(("coherence", redis_url, coherence_report))
    return found


def run_local(
    quick: bool = False,
    json_path: str | None = None,
    progress: bool | None = None,
    *,
    check: bool = False,
    redis_url: str | None = None,
    postgres_dsn: str | None = None,
) -> int:
    """Run the local benchmarks (and the tier ones asked for); print the tables.

    Args:
        quick: About 10 s instead of about 40 s for the local tier.
        json_path: Also write the results as JSON there (``-``: stdout).
        progress: Progress bar on stderr: ``None`` only on a TTY, ``True``
            forced, ``False`` off.
        check: Return 1 when a target is missed.
        redis_url: Also run the shared-tier and coherence benchmarks there.
        postgres_dsn: Also run the durable-tier benchmarks there.

    Returns:
        The exit status: 1 when a tier asked for could not be measured (or,
        with ``check``, a target was missed), else 0.
    """
    out = sys.stderr if json_path == "-" else sys.stdout
    reports = [local_report(quick=quick, progress=progress)]
    print(reports[0].render(), file=out, flush=True)
    failed = False
    for name, target, make in tier_reports(redis_url, postgres_dsn):
        unreachable = (
            postgres_unreachable(target)
            if name == "postgres"
            else redis_unreachable(target)
        )
        if unreachable is not None:
            print(f"\n[{name}] skipped: {unreachable}", file=out, flush=True)
            failed = True
            continue
        try:
            report = make(target, quick=quick, progress=progress)
        except Exception as exc:  # one failed tier must not hide the others
            print(f"\n[{name}] failed: {_first_line(exc)}", file=out, flush=True)
            failed = True
            continue
        print("\n" + report.render(), file=out, flush=True)
        reports.append(report)
    if json_path:
        write_json(json_path, reports, settings={"quick": quick})
    missed = check and any(report.missed for report in reports)
    return 1 if failed or missed else 0


def run_local_args(args: argparse.Namespace) -> Report:
    """The ``run(args)`` entry of the benchmark-module convention."""
    return local_report(quick=args.quick, progress=args.progress)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the local benchmarks from the command line."""
    return bench_main(
        run_local_args, argv, description="hydracache_sync local-tier benchmarks"
    )


if __name__ == "__main__":
    raise SystemExit(main())
