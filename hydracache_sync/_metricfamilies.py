"""Prometheus metric families from cache samples, summed per label set over workers.

A sample (:data:`CacheSample`) is one cache's numbers as ``metrics.py``
takes them and writes them to a worker's snapshot file (JSON types only);
:func:`families` turns the samples of every worker into the exported
families. ``prometheus_client.core`` is passed in, never imported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._stats import COUNTERS, LATENCY_BUCKETS

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["CacheSample", "families"]

#: One cache's numbers, as written to a snapshot file (JSON types only).
CacheSample = dict[str, Any]

#: The per-tier hit counters, exported as one counter with a ``tier`` label.
_HITS = {"local_hits": "local", "shared_hits": "shared", "durable_hits": "durable"}
_HELP = dict(COUNTERS)
_BREAKER = {"closed": 0, "half_open": 1, "open": 2}
_LOCAL_GAUGES = {
    "local_entries": "Entries held by the local tier (summed over live workers).",
    "local_bytes": "Encoded bytes held by the local tier (summed over live workers).",
    "local_max_bytes": "Byte budget of the local tier (summed over live workers).",
}


def _add(into: dict[Any, Any], key: Any, values: Iterable[float]) -> None:
    row = into.get(key)
    if row is None:
        into[key] = list(values)
    else:
        for index, value in enumerate(values):
            row[index] += value


def families(
    core: Any,
    name: str,
    label_names: list[str],
    rows: list[tuple[int | None, bool, CacheSample]],
) -> Iterator[Metric]:
    """Build every family from the samples: sums per label set."""
    counters: dict[tuple[str, ...], list[float]] = {}
    latency: dict[tuple[str, ...], list[float]] = {}
    loads: dict[tuple[str, ...], list[float]] = {}
    local: dict[tuple[str, ...], list[float]] = {}
    listeners: list[tuple[list[str], float]] = []
    breakers: list[tuple[list[str], float]] = []
    fields = [field for field, _ in COUNTERS]
    multiprocess = any(pid is not None for pid, _, _ in rows)
    for pid, live, item in rows:
        if not _valid(item, len(label_names)):
            continue  # another version's or another collector's file
        labels = tuple(item["labels"])
        _add(counters, labels, [item["counters"].get(f, 0) for f in fields])
        for tier, op, calls, seconds, errors, buckets in item["latency"]:
            role, _, store = str(tier).partition(":")
            _add(
                latency, (*labels, role, store, op), [calls, seconds, errors, *buckets]
            )
        _, _, calls, seconds, errors, buckets = item["load"]
        _add(loads, labels, [calls, seconds, errors, *buckets])
        if not live:
            continue  # a dead worker's gauges are gone; its counts stay
        _add(local, labels, [item["local"][g] for g in _LOCAL_GAUGES])
        who = [str(pid)] if multiprocess else []
        if item["listener"] is not None:
            listeners.append(([*labels, *who], float(item["listener"])))
        for tier, state in sorted(item["breakers"].items()):
            breakers.append(([*labels, *who, tier], float(_BREAKER.get(state, 0))))

    for index, field in enumerate(fields):
        if field in _HITS:
            continue
        family = core.CounterMetricFamily(
            f"{name}_{field}", _HELP[field], labels=label_names
        )
        for labels, values in counters.items():
            family.add_metric(list(labels), values[index])
        yield family
    hits = core.CounterMetricFamily(
        f"{name}_hits",
        "Lookups answered, by the tier that answered (local, shared, durable).",
        labels=[*label_names, "tier"],
    )
    for labels, values in counters.items():
        for field, tier in _HITS.items():
            hits.add_metric([*labels, tier], values[fields.index(field)])
    yield hits

    seconds_family = core.HistogramMetricFamily(
        f"{name}_tier_seconds",
        "Duration of calls to a remote tier, by tier, store and operation.",
        labels=[*label_names, "tier", "store", "op"],
    )
    errors_family = core.CounterMetricFamily(
        f"{name}_tier_call_errors",
        "Calls to a remote tier that failed, by tier, store and operation.",
        labels=[*label_names, "tier", "store", "op"],
    )
    for labels, values in sorted(latency.items()):
        seconds_family.add_metric(list(labels), _buckets(values), values[1])
        errors_family.add_metric(list(labels), values[2])
    yield seconds_family
    yield errors_family
    load_family = core.HistogramMetricFamily(
        f"{name}_load_seconds",
        "Duration of loader calls after a miss (failed ones included).",
        labels=label_names,
    )
    for labels, values in loads.items():
        load_family.add_metric(list(labels), _buckets(values), values[1])
    yield load_family

    for index, (gauge, help_text) in enumerate(_LOCAL_GAUGES.items()):
        family = core.GaugeMetricFamily(
            f"{name}_{gauge}", help_text, labels=label_names
        )
        for labels, values in local.items():
            family.add_metric(list(labels), values[index])
        yield family
    who_names = ["pid"] if multiprocess else []
    listener = core.GaugeMetricFamily(
        f"{name}_listener_up",
        "1 while the invalidation listener is subscribed, else 0 (caches that "
        "broadcast; per worker).",
        labels=[*label_names, *who_names],
    )
    for labels_list, value in listeners:
        listener.add_metric(labels_list, value)
    yield listener
    breaker = core.GaugeMetricFamily(
        f"{name}_breaker_state",
        "Breaker of a remote tier: 0 closed, 1 half-open (next call probes), "
        "2 open (tier skipped); per worker.",
        labels=[*label_names, *who_names, "tier"],
    )
    for labels_list, value in breakers:
        breaker.add_metric(labels_list, value)
    yield breaker


def _valid(item: Any, width: int) -> bool:
    """Whether a sample read from a file has the shape this version writes."""
    buckets = len(LATENCY_BUCKETS)
    try:
        rows = [*item["latency"], item["load"]]
        return (
            len(item["labels"]) == width
            and all(isinstance(v, (int, float)) for v in item["counters"].values())
            and all(len(row) == 6 and len(row[5]) == buckets for row in rows)
            and all(gauge in item["local"] for gauge in _LOCAL_GAUGES)
            and isinstance(item["breakers"], dict)
            and "listener" in item
        )
    except (KeyError, TypeError, AttributeError):
        return False


def _buckets(values: list[float]) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs from ``[calls, seconds, errors, *counts]``."""
    pairs = []
    running = 0.0
    for bound, count in zip(LATENCY_BUCKETS, values[3:], strict=False):
        running += count
        pairs.append((repr(float(bound)), running))
    pairs.append(("+Inf", values[0]))
    return pairs
