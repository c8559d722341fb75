"""Prometheus metrics for HydraCache: one collector, per process or summed over workers.

``prometheus_client`` is imported when a collector is built, never when this
module (or ``hydracache_sync``) is imported; without it the constructor raises
:class:`~hydracache_sync.errors.MissingDependencyError`.

::

    from prometheus_client import start_http_server
    from hydracache_sync import HydraCache
    from hydracache_sync.metrics import register

    cache = HydraCache.local()
    register(cache)                  # on prometheus_client.REGISTRY
    start_http_server(9100)

Exported, with ``name="hydracache"`` (rates and ratios are left to PromQL):

- ``hydracache_hits_total{tier}`` (``tier`` is ``local``, ``shared`` or
  ``durable``) and one counter per other ``CacheStats`` counter
  (``hydracache_misses_total``, ``hydracache_loads_total``, ...), each with
  the HELP text of ``_stats.COUNTERS``;
- histograms ``hydracache_tier_seconds{tier,store,op}`` (remote tier calls)
  and ``hydracache_load_seconds`` (loader calls); the counter
  ``hydracache_tier_call_errors_total{tier,store,op}``;
- gauges ``hydracache_local_entries``, ``hydracache_local_bytes``,
  ``hydracache_local_max_bytes``, ``hydracache_listener_up`` (caches that
  broadcast) and ``hydracache_breaker_state{tier}`` (0 closed, 1 half-open,
  2 open).

Several workers (gunicorn, uWSGI): with ``multiprocess_dir`` (or
``PROMETHEUS_MULTIPROC_DIR`` in the environment) each process writes its
snapshot into that directory and a scrape of any worker reports the sum over
all of them; see :func:`register`.

.. versionadded:: 0.1
.. versionchanged:: 0.2
   ``tier`` label on hits, histograms, listener and breaker gauges, every
   HELP text, multi-worker sums; no ``hit_ratio`` gauge.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _metricfiles as files
from ._metricfamilies import CacheSample, families
from ._stats import COUNTERS, TierLatency
from ._units import parse_seconds
from .errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector, CollectorRegistry

    from ._cache import HydraCache

    _CollectorBase = Collector
else:
    _CollectorBase = object

__all__ = ["HydraCacheCollector", "register"]

_MISSING = (
    "hydracache_sync.metrics needs prometheus_client: "
    "pip install 'hydracache_sync[prometheus]'"
)

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_RESERVED_LABELS = frozenset({"tier", "store", "op", "pid", "le"})


def _prometheus_core() -> Any:
    """Import ``prometheus_client.core`` or raise the error naming the extra."""
    try:
        import prometheus_client.core
    except ImportError as exc:
        raise MissingDependencyError(_MISSING) from exc
    return prometheus_client.core


def _row(row: TierLatency) -> list[Any]:
    return [row.tier, row.op, row.calls, row.seconds, row.errors, list(row.buckets)]


def _sample(cache: HydraCache, labels: list[str]) -> CacheSample:
    """Return one cache's numbers now: counters, latency rows and gauges."""
    stats = cache.stats()
    store = cache.local_store
    return {
        "labels": labels,
        "counters": {name: getattr(stats, name) for name, _ in COUNTERS},
        "latency": [_row(row) for row in stats.tier_latency],
        "load": _row(stats.load_latency),
        "local": {
            "local_entries": len(store),
            "local_bytes": store.size,
            "local_max_bytes": store.max_bytes,
        },
        "listener": int(cache.listening) if cache.broadcasting else None,
        "breakers": cache.breaker_states(),
    }


def _subtract(now: CacheSample, base: CacheSample) -> CacheSample:
    """``now`` minus what ``base`` had counted (gauges stay as in ``now``)."""
    counters = {k: v - base["counters"].get(k, 0) for k, v in now["counters"].items()}
    before = {(r[0], r[1]): r for r in base["latency"]}
    return {
        **now,
        "counters": counters,
        "latency": [
            _minus(row, before.get((row[0], row[1]))) for row in now["latency"]
        ],
        "load": _minus(now["load"], base["load"]),
    }


def _minus(row: list[Any], base: list[Any] | None) -> list[Any]:
    if base is None:
        return row
    buckets = [a - b for a, b in zip(row[5], base[5], strict=True)]
    return [
        row[0],
        row[1],
        row[2] - base[2],
        row[3] - base[3],
        row[4] - base[4],
        buckets,
    ]


class HydraCacheCollector(_CollectorBase):
    """A Prometheus collector reporting caches' stats at every scrape.

    A registry refuses two collectors with the same metric names, so several
    caches under one ``name`` share one collector, told apart by their labels:
    ``register(users, labels={"cache": "users"}).add(pages, {"cache": "pages"})``.

    With ``multiprocess_dir`` this process's numbers are written there (every
    ``interval`` seconds and at each scrape), and a scrape reports the sum over
    every process that wrote to the directory (see :func:`register`).

    Args:
        cache: The cache to report.
        name: The metric name prefix (``hydracache_hits_total``, ...).
        labels: Constant labels put on this cache's samples, e.g.
            ``{"cache": "users"}``.
        multiprocess_dir: A directory shared by the workers of one service
            (default: ``PROMETHEUS_MULTIPROC_DIR`` when set, else single
            process).
        interval: Seconds between two writes of this process's snapshot.

    Raises:
        MissingDependencyError: prometheus_client is not installed.
        ConfigError: ``name`` or a label name is not a valid Prometheus name,
            or ``multiprocess_dir`` is not a directory.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        cache: HydraCache,
        name: str = "hydracache",
        labels: Mapping[str, str] | None = None,
        *,
        multiprocess_dir: str | os.PathLike[str] | None = None,
        interval: float = 1.0,
    ) -> None:
        self._core = _prometheus_core()
        if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
            raise ConfigError(f"invalid Prometheus metric name {name!r}")
        labels = dict(labels or {})
        for label in labels:
            if (
                not _LABEL_NAME.fullmatch(label)
                or label.startswith("__")
                or label in _RESERVED_LABELS
            ):
                raise ConfigError(f"invalid Prometheus label name {label!r}")
        self._name = name
        self._label_names = sorted(labels)
        self._caches: list[tuple[HydraCache, list[str]]] = []
        self.add(cache, labels)
        self._writer: files.Writer | None = None
        self._pid = os.getpid()
        self._baseline: list[CacheSample] | None = None
        if multiprocess_dir is None:
            multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if multiprocess_dir is not None:
            directory = Path(multiprocess_dir)
            if not directory.is_dir():
                raise ConfigError(
                    f"multiprocess_dir {str(directory)!r} is not a directory"
                )
            seconds = parse_seconds(interval, name="interval")
            if seconds <= 0:
                raise ConfigError(f"interval must be > 0, got {interval!r}")
            self._writer = files.Writer(directory, name, self._snapshot, seconds)
            self._writer.start()

    @property
    def multiprocess_dir(self) -> Path | None:
        """The directory shared by the workers, or ``None`` (this process only)."""
        return None if self._writer is None else self._writer.directory

    def add(
        self, cache: HydraCache, labels: Mapping[str, str] | None = None
    ) -> HydraCacheCollector:
        """Report one more cache under the same names.

        Args:
            cache: The cache.
            labels: Its label values; the same label names as the first cache,
                with values no other cache of this collector has.

        Returns:
            This collector (calls chain).

        Raises:
            ConfigError: Other label names, or values already in use.
        """
        labels = dict(labels or {})
        if sorted(labels) != self._label_names:
            raise ConfigError(
                f"labels {sorted(labels)} differ from this collector's "
                f"{self._label_names}"
            )
        values = [str(labels[label]) for label in self._label_names]
        if any(values == taken for _, taken in self._caches):
            raise ConfigError(
                f"a cache with labels {labels!r} is already reported as {self._name!r}"
            )
        self._caches.append((cache, values))
        return self

    def close(self) -> None:
        """Stop writing this process's snapshot (its file, and counts, stay)."""
        if self._writer is not None:
            self._writer.stop()

    def _samples(self) -> list[CacheSample]:
        """This process's numbers since it started (since its fork, in a child)."""
        samples = [_sample(cache, values) for cache, values in self._caches]
        pid = os.getpid()
        if pid != self._pid and self._writer is not None:
            # A forked worker inherits the parent's counts, which the parent
            # reports itself: count only what happened here after the fork.
            # (Its writer thread takes this baseline as soon as it starts.)
            self._pid, self._baseline = pid, samples
        if self._baseline is not None:
            base = {tuple(s["labels"]): s for s in self._baseline}
            samples = [
                _subtract(s, base[tuple(s["labels"])])
                if tuple(s["labels"]) in base
                else s
                for s in samples
            ]
        return samples

    def _snapshot(self) -> files.Snapshot:
        return {"pid": os.getpid(), "caches": self._samples()}

    def _gather(self) -> list[tuple[int | None, bool, CacheSample]]:
        """Every sample to report: ``(pid or None, alive, sample)``."""
        writer = self._writer
        if writer is None:
            return [(None, True, s) for s in self._samples()]
        writer.write()  # this process's numbers, fresh
        gathered: list[tuple[int | None, bool, CacheSample]] = []
        for snapshot in files.read_snapshots(writer.directory, writer.name):
            pid = snapshot["pid"]
            live = files.alive(pid)
            gathered.extend((pid, live, s) for s in snapshot.get("caches", []))
        return gathered

    def _families(self, snapshot: bool) -> Iterator[Metric]:
        rows = self._gather() if snapshot else []
        return families(self._core, self._name, self._label_names, rows)

    def describe(self) -> Iterator[Metric]:
        """Yield the metric families without samples (used at registration)."""
        return self._families(snapshot=False)

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families from a fresh snapshot (of every worker)."""
        return self._families(snapshot=True)


def register(
    cache: HydraCache,
    registry: CollectorRegistry | None = None,
    *,
    name: str = "hydracache",
    labels: Mapping[str, str] | None = None,
    multiprocess_dir: str | os.PathLike[str] | None = None,
    interval: float = 1.0,
) -> HydraCacheCollector:
    """Build a :class:`HydraCacheCollector` and register it.

    Several workers: give every worker the same ``multiprocess_dir`` (or set
    ``PROMETHEUS_MULTIPROC_DIR``, as for prometheus_client's own multiprocess
    mode, and empty it when the service starts). Each worker writes its
    numbers there every ``interval`` seconds; a scrape of any worker returns
    the sum over all of them (other workers' numbers as of at most
    ``interval`` ago). Counters and histograms include workers that have
    exited; gauges only the live ones, and ``listener_up`` and
    ``breaker_state`` get a ``pid`` label.

    Args:
        cache: The cache to report.
        registry: Where to register (default ``prometheus_client.REGISTRY``).
        name: The metric name prefix.
        labels: Constant labels for every sample.
        multiprocess_dir: The directory shared by the workers (default:
            ``PROMETHEUS_MULTIPROC_DIR``; unset: this process only).
        interval: Seconds between two writes of this worker's numbers.

    Returns:
        The registered collector (``registry.unregister(collector)`` removes it).

    Raises:
        MissingDependencyError: prometheus_client is not installed.
        ConfigError: An invalid name, label or directory.
        ValueError: The registry already has metrics of these names.

    .. versionadded:: 0.1
    """
    collector = HydraCacheCollector(
        cache,
        name=name,
        labels=labels,
        multiprocess_dir=multiprocess_dir,
        interval=interval,
    )
    if registry is None:
        registry = _prometheus_core().REGISTRY
    try:
        registry.register(collector)
    except BaseException:
        collector.close()
        raise
    return collector
