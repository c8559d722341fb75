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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    "compile_loop",
    "environment",
    "format_table",
    "local_report",
    "main",
    "measure_scaling",
    "print_table",
    "run_local",
    "throughput",
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


def run_local(
    quick: bool = False,
    json_path: str | None = None,
    progress: bool | None = None,
    *,
    check: bool = False,
) -> int:
    """Run the local benchmarks, print the table; return an exit status.

    Args:
        quick: About 10 s instead of about 40 s.
        json_path: Also write the results as JSON there (``-``: stdout).
        progress: Progress bar on stderr: ``None`` only on a TTY, ``True``
            forced, ``False`` off.
        check: Return 1 when a target is missed (else always 0).

    Returns:
        The exit status.
    """
    report = local_report(quick=quick, progress=progress)
    print(report.render(), file=sys.stderr if json_path == "-" else sys.stdout)
    if json_path:
        write_json(json_path, [report], settings={"quick": quick})
    return 1 if check and report.missed else 0


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
