"""Exact counters without a lock on the hit path, and the frozen ``CacheStats``.

Each thread increments its own list (a ``threading.local``), so no two threads
ever write the same slot: a bare ``+=`` on a shared int would race (and does,
visibly, on free-threaded builds). ``snapshot()`` sums the live lists under a
lock; when a thread ends its counts are folded into a retired total.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

__all__ = ["FIELDS", "CacheStats", "Counters", "TierLatency", "Timings"]

FIELDS = (
    "misses",
    "loads",
    "load_errors",
    "joins",
    "stale_discards",
    "invalidations",
    "evictions",
    "expirations",
    "oversize_drops",
    "local_hits",
    "shared_hits",
    "durable_hits",
    "promotions",
    "tier_errors",
    "decode_errors",
    "stale_hits",
    "refreshes",
    "early_refreshes",
    "remote_invalidations",
    "resyncs",
    "lock_waits",
    "lock_timeouts",
)
(
    MISSES,
    LOADS,
    LOAD_ERRORS,
    JOINS,
    STALE_DISCARDS,
    INVALIDATIONS,
    EVICTIONS,
    EXPIRATIONS,
    OVERSIZE_DROPS,
    LOCAL_HITS,
    SHARED_HITS,
    DURABLE_HITS,
    PROMOTIONS,
    TIER_ERRORS,
    DECODE_ERRORS,
    STALE_HITS,
    REFRESHES,
    EARLY_REFRESHES,
    REMOTE_INVALIDATIONS,
    RESYNCS,
    LOCK_WAITS,
    LOCK_TIMEOUTS,
) = range(len(FIELDS))


class TierLatency(NamedTuple):
    """Calls of one operation on one remote tier: how many, how long, how many failed.

    ``tier`` is the tier's role and name (``"shared:redis"``); ``op`` the store
    method (``get``, ``set``, ``get_many``, ``invalidate_tag``, ...).
    """

    tier: str
    op: str
    calls: int
    seconds: float
    errors: int


@dataclass(frozen=True, slots=True)
class CacheStats:
    """An immutable snapshot of a cache's counters.

    Every lookup counts once: as a hit in the tier that answered (``hits`` is
    ``local_hits + shared_hits + durable_hits``), as a miss (no tier had it),
    or, in ``get_or_load``, as a join (it waited for another caller's load of
    the key). ``hit_ratio`` is ``hits / (hits + misses)`` (0.0 before any
    lookup); joins count in neither. ``invalidations`` counts
    invalidating calls (delete, invalidate_tag, invalidate, clear).

    Refresh without waiting: ``stale_hits`` (a stale value served while a
    refresh runs; also counted in ``local_hits``), ``refreshes`` (background
    loads started) of which ``early_refreshes`` began before the entry expired.
    Coherence: ``remote_invalidations`` (invalidations received from other
    processes), ``resyncs`` (local tier dropped after the listener reconnected),
    ``lock_waits`` (a value loaded by another process's lock holder was used),
    ``lock_timeouts`` (gave up waiting for a lock holder and loaded).
    ``tier_latency`` lists, per remote tier and operation, the calls made,
    their total seconds and how many failed.
    """

    hits: int
    misses: int
    loads: int
    load_errors: int
    joins: int
    stale_discards: int
    invalidations: int
    evictions: int
    expirations: int
    oversize_drops: int
    local_hits: int
    shared_hits: int
    durable_hits: int
    promotions: int
    tier_errors: int
    decode_errors: int
    stale_hits: int
    refreshes: int
    early_refreshes: int
    remote_invalidations: int
    resyncs: int
    lock_waits: int
    lock_timeouts: int
    hit_ratio: float
    #: Per remote tier and operation: count, total seconds, errors.
    tier_latency: tuple[TierLatency, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as a plain dict."""
        return asdict(self)


class _Reaper:
    """Lives in a thread's local storage; its death retires that thread's counts."""

    __slots__ = ("__weakref__",)


class _Slot(threading.local):
    counts: list[int]

    def __init__(self, owner: Counters) -> None:
        counts = [0] * len(FIELDS)
        reaper = _Reaper()
        owner._register(counts)
        weakref.finalize(reaper, owner._retire, counts)
        self.counts = counts
        self.reaper = reaper


class Counters:
    """Per-thread counters; ``slot.counts[INDEX] += 1`` from the owning thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, list[int]] = {}
        self._retired = [0] * len(FIELDS)
        self.slot = _Slot(self)
        # Local hits, the counter bumped on every hit, use one shared
        # itertools.count: next() is a single C call, atomic under the GIL and
        # on free-threaded 3.13+ (gh-117657), and measured ~3x cheaper than
        # reaching this thread's slot through threading.local. ``hit()`` counts
        # one; reading it (next() once more) is subtracted in totals().
        self._hits = itertools.count()
        self.hit = self._hits.__next__
        self._hit_reads = 0

    def _register(self, counts: list[int]) -> None:
        with self._lock:
            self._live[id(counts)] = counts

    def _retire(self, counts: list[int]) -> None:
        with self._lock:
            if self._live.pop(id(counts), None) is not None:
                for index, value in enumerate(counts):
                    self._retired[index] += value

    def add(self, index: int, amount: int = 1) -> None:
        """Add ``amount`` to one counter of the calling thread."""
        self.slot.counts[index] += amount

    def totals(self) -> list[int]:
        """Return the summed counters, in ``FIELDS`` order."""
        with self._lock:
            totals = list(self._retired)
            for counts in self._live.values():
                for index, value in enumerate(counts):
                    totals[index] += value
            totals[LOCAL_HITS] += next(self._hits) - self._hit_reads
            self._hit_reads += 1
        return totals

    def snapshot(self, latency: tuple[TierLatency, ...] = ()) -> CacheStats:
        """Return a frozen ``CacheStats``."""
        totals = self.totals()
        values = dict(zip(FIELDS, totals, strict=True))
        hits = totals[LOCAL_HITS] + totals[SHARED_HITS] + totals[DURABLE_HITS]
        lookups = hits + totals[MISSES]
        return CacheStats(
            hits=hits,
            hit_ratio=hits / lookups if lookups else 0.0,
            tier_latency=latency,
            **values,
        )


class _TimingSlot(threading.local):
    table: dict[tuple[str, str], list[float]]

    def __init__(self, owner: Timings) -> None:
        table: dict[tuple[str, str], list[float]] = {}
        reaper = _Reaper()
        owner._register(table)
        weakref.finalize(reaper, owner._retire, table)
        self.table = table
        self.reaper = reaper


class Timings:
    """Per-thread call counts and durations per (tier, op), exact without a lock.

    Like ``Counters``: each thread writes its own table; ``snapshot()`` sums
    them under a lock, and a finished thread's table is folded into a total.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, dict[tuple[str, str], list[float]]] = {}
        self._retired: dict[tuple[str, str], list[float]] = {}
        self._slot = _TimingSlot(self)

    def _register(self, table: dict[tuple[str, str], list[float]]) -> None:
        with self._lock:
            self._live[id(table)] = table

    def _retire(self, table: dict[tuple[str, str], list[float]]) -> None:
        with self._lock:
            if self._live.pop(id(table), None) is not None:
                _merge(self._retired, table)

    def record(self, tier: str, op: str, seconds: float, failed: bool) -> None:
        """Add one call of ``op`` on ``tier`` from the calling thread."""
        table = self._slot.table
        row = table.get((tier, op))
        if row is None:
            row = table[(tier, op)] = [0, 0.0, 0]
        row[0] += 1
        row[1] += seconds
        row[2] += failed

    def snapshot(self) -> tuple[TierLatency, ...]:
        """Return the summed rows, sorted by tier and operation."""
        with self._lock:
            total: dict[tuple[str, str], list[float]] = {}
            _merge(total, self._retired)
            for table in self._live.values():
                _merge(total, dict(table))
        return tuple(
            TierLatency(tier, op, int(calls), seconds, int(errors))
            for (tier, op), (calls, seconds, errors) in sorted(total.items())
        )


def _merge(
    into: dict[tuple[str, str], list[float]],
    table: dict[tuple[str, str], list[float]],
) -> None:
    for name, row in table.items():
        target = into.setdefault(name, [0, 0.0, 0])
        for index, value in enumerate(row):
            target[index] += value
