"""Measure benchmark bodies: interleaved rounds of calibrated samples, thread scaling.

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

Timing is our own (``time.perf_counter_ns``): pyperf, the maintained
alternative, runs every benchmark in its own worker processes one after
another, which rules out both the paired per-round ratios and rows that share
a server sandbox set up in this process.
"""

from __future__ import annotations

import functools
import gc
import itertools
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .display import Progress
from .report import GroupResult, Row, ScalingRow

__all__ = [
    "Body",
    "Harness",
    "Settings",
    "Setup",
    "compile_loop",
    "measure_scaling",
    "scaling_steps",
    "throughput",
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
