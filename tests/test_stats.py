"""Counters and timings: one list of counters, exact buckets, the loader's row."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from hydracache_sync import CacheStats, HydraCache
from hydracache_sync._stats import COUNTERS, FIELDS, LATENCY_BUCKETS, Timings


def test_counters_are_listed_once() -> None:
    """FIELDS, the CacheStats fields and the descriptions come from COUNTERS."""
    assert FIELDS == tuple(name for name, _ in COUNTERS)
    stats_fields = {field.name for field in dataclasses.fields(CacheStats)}
    assert set(FIELDS) <= stats_fields
    assert {"hits", "hit_ratio", "tier_latency", "load_latency"} == (
        stats_fields - set(FIELDS)
    )
    assert all(len(description) > 20 for _, description in COUNTERS)


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0.0, 0), (0.0001, 0), (0.00011, 1), (0.003, 5), (1.0, 12), (10.0, 15)],
)
def test_a_call_counts_in_the_first_bucket_at_or_above_it(
    seconds: float, bucket: int
) -> None:
    """``le`` semantics: a call of exactly a bound counts in that bound's bucket."""
    timings = Timings()
    timings.record("shared:redis", "get", seconds, False)
    [row] = timings.snapshot()
    expected = [0] * len(LATENCY_BUCKETS)
    expected[bucket] = 1
    assert tuple(expected) == row.buckets


def test_slower_than_the_last_bound_counts_only_in_calls() -> None:
    """Over 10 s: no bucket, one call (the +Inf bucket is ``calls``)."""
    timings = Timings()
    timings.record("durable:postgres", "get", 12.0, True)
    [row] = timings.snapshot()
    assert (1, 1, 0) == (row.calls, row.errors, sum(row.buckets))


def test_buckets_are_exact_under_threads() -> None:
    """8 threads x 1,000 calls in two buckets: exact counts."""
    timings = Timings()
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        barrier.wait()
        for _ in range(1000):
            timings.record("shared:redis", "get", 0.002 if index % 2 else 0.2, False)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [row] = timings.snapshot()
    assert 8000 == row.calls
    assert 4000 == row.buckets[LATENCY_BUCKETS.index(0.0025)]
    assert 4000 == row.buckets[LATENCY_BUCKETS.index(0.25)]
    assert 8000 == sum(row.buckets)


def test_load_latency_counts_loads_and_failed_loads() -> None:
    """Each loader call is one row entry; a raising loader is also an error."""
    cache = HydraCache.local()
    cache.get_or_load("a", lambda: 1)
    cache.get_or_load("a", lambda: 1)  # a hit: no load

    def broken() -> int:
        raise ValueError("down")

    with pytest.raises(ValueError, match="down"):
        cache.get_or_load("b", broken)
    load = cache.stats().load_latency
    assert ("loader", "load", 2, 1) == (load.tier, load.op, load.calls, load.errors)
    assert 2 == sum(load.buckets)
    assert 0.0 <= load.seconds


def test_a_fresh_cache_has_an_empty_load_row() -> None:
    """Before any load the row is zeros, with one zero per bucket."""
    load = HydraCache.local().stats().load_latency
    assert (0, 0.0, 0) == (load.calls, load.seconds, load.errors)
    assert (0,) * len(LATENCY_BUCKETS) == load.buckets
