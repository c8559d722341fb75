"""Prometheus metrics for a HydraCache: a collector over ``cache.stats()``.

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

Exported, with ``name="hydracache"``:

- one counter per ``CacheStats`` counter field: ``hydracache_hits_total``,
  ``hydracache_misses_total``, ``hydracache_loads_total``,
  ``hydracache_shared_hits_total``, ``hydracache_tier_errors_total``, ...;
- gauges ``hydracache_hit_ratio``, ``hydracache_local_entries``,
  ``hydracache_local_bytes`` and ``hydracache_local_max_bytes``.

Every scrape takes one ``stats()`` snapshot; nothing is added to the hot path.
A registry refuses two collectors with the same metric names: report several
caches through one collector, with a label telling them apart::

    register(users, labels={"cache": "users"}).add(pages, {"cache": "pages"})

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._stats import CacheStats
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

#: Help texts of the known counters; a newer field gets a generic one.
_HELP = {
    "hits": "Lookups answered from any tier.",
    "misses": "Lookups that found no usable entry.",
    "loads": "Loader calls made on a miss.",
    "load_errors": "Loader calls that raised (nothing was cached).",
    "joins": "Callers that waited on another caller's load (single-flight).",
    "stale_discards": "Loaded values not stored because of an invalidation.",
    "invalidations": "Invalidating calls (delete, invalidate_tag, invalidate, clear).",
    "evictions": "Local entries evicted for space.",
    "expirations": "Expired local entries purged.",
    "oversize_drops": "Entries too large for the local tier.",
    "local_hits": "Lookups answered from the local tier.",
    "shared_hits": "Lookups answered from the shared (Redis) tier.",
    "durable_hits": "Lookups answered from the durable (Postgres) tier.",
    "promotions": "Copies placed into faster tiers after a slower-tier hit.",
    "tier_errors": "Remote tier calls that failed.",
    "decode_errors": "Remote entries that could not be decoded or verified.",
}

_GAUGES = {
    "hit_ratio": "hits / (hits + misses) since the cache was created.",
    "local_entries": "Entries held by the local tier.",
    "local_bytes": "Encoded bytes held by the local tier.",
    "local_max_bytes": "Byte budget of the local tier.",
}


def _prometheus_core() -> Any:
    """Import ``prometheus_client.core`` or raise the error naming the extra."""
    try:
        import prometheus_client.core
    except ImportError as exc:
        raise MissingDependencyError(_MISSING) from exc
    return prometheus_client.core


class HydraCacheCollector(_CollectorBase):
    """A Prometheus collector reporting caches' stats at every scrape.

    A registry refuses two collectors with the same metric names, so several
    caches under one ``name`` share one collector, told apart by their labels:
    ``register(users, labels={"cache": "users"}).add(pages, {"cache": "pages"})``.

    Args:
        cache: The cache to report.
        name: The metric name prefix (``hydracache_hits_total``, ...).
        labels: Constant labels put on this cache's samples, e.g.
            ``{"cache": "users"}``.

    Raises:
        MissingDependencyError: prometheus_client is not installed.
        ConfigError: ``name`` or a label name is not a valid Prometheus name.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        cache: HydraCache,
        name: str = "hydracache",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._core = _prometheus_core()
        if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
            raise ConfigError(f"invalid Prometheus metric name {name!r}")
        labels = dict(labels or {})
        for label in labels:
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ConfigError(f"invalid Prometheus label name {label!r}")
        self._name = name
        self._label_names = sorted(labels)
        self._caches: list[tuple[HydraCache, list[str]]] = []
        self.add(cache, labels)

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

    def _families(self, snapshot: bool) -> Iterator[Metric]:
        core = self._core
        names = self._label_names
        rows = [
            (cache, values, cache.stats() if snapshot else None)
            for cache, values in self._caches
        ]
        for field in dataclasses.fields(CacheStats):
            if field.name in ("hit_ratio", "tier_latency"):
                continue
            counter = core.CounterMetricFamily(
                f"{self._name}_{field.name}",
                _HELP.get(field.name, f"HydraCache counter {field.name}."),
                labels=names,
            )
            for _, values, stats in rows:
                if stats is not None:
                    counter.add_metric(values, getattr(stats, field.name))
            yield counter
        for gauge_name, help_text in _GAUGES.items():
            gauge = core.GaugeMetricFamily(
                f"{self._name}_{gauge_name}", help_text, labels=names
            )
            for cache, values, stats in rows:
                if stats is not None:
                    gauge.add_metric(values, _gauge(gauge_name, cache, stats))
            yield gauge

        tier_names = [*names, "tier", "op"]
        seconds = core.SummaryMetricFamily(
            f"{self._name}_tier_seconds",
            "Time spent in calls to a remote tier, by tier and operation.",
            labels=tier_names,
        )
        failures = core.CounterMetricFamily(
            f"{self._name}_tier_call_errors",
            "Calls to a remote tier that failed, by tier and operation.",
            labels=tier_names,
        )
        for _, values, stats in rows:
            if stats is None:
                continue
            for row in stats.tier_latency:
                labels = [*values, row.tier, row.op]
                seconds.add_metric(labels, row.calls, row.seconds)
                failures.add_metric(labels, row.errors)
        yield seconds
        yield failures

    def describe(self) -> Iterator[Metric]:
        """Yield the metric families without samples (used at registration)."""
        return self._families(snapshot=False)

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families from one fresh ``stats()`` per cache."""
        return self._families(snapshot=True)


def _gauge(name: str, cache: HydraCache, stats: CacheStats) -> float:
    store = cache.local_store
    if name == "hit_ratio":
        return stats.hit_ratio
    if name == "local_entries":
        return len(store)
    if name == "local_bytes":
        return store.size
    return store.max_bytes


def register(
    cache: HydraCache,
    registry: CollectorRegistry | None = None,
    *,
    name: str = "hydracache",
    labels: Mapping[str, str] | None = None,
) -> HydraCacheCollector:
    """Build a :class:`HydraCacheCollector` and register it.

    Args:
        cache: The cache to report.
        registry: Where to register (default ``prometheus_client.REGISTRY``).
        name: The metric name prefix.
        labels: Constant labels for every sample.

    Returns:
        The registered collector (``registry.unregister(collector)`` removes it).

    Raises:
        MissingDependencyError: prometheus_client is not installed.
        ConfigError: An invalid name or label.
        ValueError: The registry already has metrics of these names.

    .. versionadded:: 0.1
    """
    collector = HydraCacheCollector(cache, name=name, labels=labels)
    if registry is None:
        registry = _prometheus_core().REGISTRY
    registry.register(collector)
    return collector
