"""Single-flight, the stale-load rule and exact counters, under real threads."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from hydracache_sync import HydraCache


def run_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Start ``count`` threads on ``target(i)`` behind a barrier; return results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except BaseException as exc:  # collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def assert_no_stale_reads(
    cache: HydraCache,
    how: str,
    seconds: float = 1.5,
    pause: float = 0.001,
    *,
    min_invalidations: int = 40,
    min_reads: int = 100,
    cap: float = 20.0,
) -> None:
    """Run readers against invalidators; fail if a read predates an invalidation.

    The loader reads a versioned source. An invalidator bumps the version and
    then invalidates (``how``: tag, key, pattern or clear); every reader notes
    the version whose invalidation had completed before its call began, and
    must never get an older one. Reused by the tier tests (values from Redis).
    Invalidators sleep up to ``pause`` seconds between rounds.

    The run lasts ``seconds`` and then goes on until at least
    ``min_invalidations`` invalidations and ``min_reads`` reads were made (a
    loaded machine makes fewer rounds per second), but never past ``cap``.
    """
    source = {"version": 0}
    completed = {"version": 0}
    lock = threading.Lock()
    start = time.monotonic()
    done = {"invalidations": 0, "reads": 0}

    def running() -> bool:
        elapsed = time.monotonic() - start
        if elapsed >= cap:
            return False
        with lock:
            enough = (
                done["invalidations"] >= min_invalidations
                and done["reads"] >= min_reads
            )
        return elapsed < seconds or not enough

    violations: list[tuple[int, int]] = []
    rng = random.Random(1234)

    def loader() -> int:
        seen = source["version"]
        time.sleep(rng.random() / 500)
        return seen

    def invalidate() -> None:
        if how == "tag":
            cache.invalidate_tag("t")
        elif how == "key":
            cache.delete("item:1")
        elif how == "pattern":
            cache.invalidate("item:*")
        else:
            cache.clear()

    def invalidator(_: int) -> int:
        rounds = 0
        while running():
            with lock:
                source["version"] += 1
                version = source["version"]
            invalidate()
            with lock:
                completed["version"] = max(completed["version"], version)
                done["invalidations"] += 1
            rounds += 1
            time.sleep(rng.random() * pause)
        return rounds

    def reader(_: int) -> int:
        reads = 0
        while running():
            with lock:
                floor = completed["version"]
            value = cache.get_or_load("item:1", loader, tags=["t"])
            if value < floor:
                violations.append((value, floor))
            reads += 1
            with lock:
                done["reads"] += 1
        return reads

    results = run_threads(6, lambda i: invalidator(i) if i < 2 else reader(i))
    assert all(isinstance(r, int) for r in results), results
    assert sum(results[:2]) >= min_invalidations, "too few invalidations"
    assert sum(results[2:]) >= min_reads, "too few reads"
    assert [] == violations


class TestSingleFlight:
    def test_32_threads_one_cold_key_run_the_loader_once(self) -> None:
        """32 concurrent callers: one loader run, 31 joins, everyone gets the value."""
        cache = HydraCache.local()
        runs = []
        release = threading.Event()

        def loader() -> str:
            runs.append(1)
            release.wait(5)
            return "value"

        def call(i: int) -> Any:
            if i == 0:
                threading.Timer(0.2, release.set).start()
            return cache.get_or_load("cold", loader)

        results = run_threads(32, call)
        stats = cache.stats()
        assert results == ["value"] * 32
        assert len(runs) == 1
        assert stats.loads == 1
        assert stats.joins == 31
        assert stats.misses == 1  # the leader's; joined callers are not misses
        assert stats.hits == 0
        assert stats.hit_ratio == 0.0

    def test_loader_exception_reaches_every_waiter(self) -> None:
        """A failing loader's exception is raised in all callers; nothing is cached."""
        cache = HydraCache.local()
        runs = []

        def loader() -> str:
            runs.append(1)
            time.sleep(0.2)
            raise LookupError("database down")

        results = run_threads(16, lambda i: cache.get_or_load("k", loader))
        assert sum(isinstance(r, LookupError) for r in results) == 16
        assert len(runs) == 1
        assert "k" not in cache
        assert cache.stats().load_errors == 1
        assert cache.get_or_load("k", lambda: "fresh") == "fresh"

    def test_tag_invalidated_during_load_is_not_stored(self) -> None:
        """A load overlapped by its tag's invalidation is returned but not stored."""
        cache = HydraCache.local()
        started, finish = threading.Event(), threading.Event()
        versions = iter(["old", "new"])

        def loader() -> str:
            started.set()
            finish.wait(5)
            return next(versions)

        waiter: list[Any] = []
        thread = threading.Thread(
            target=lambda: waiter.append(cache.get_or_load("k", loader, tags=["t"]))
        )
        thread.start()
        assert started.wait(5)
        cache.invalidate_tag("t")
        finish.set()
        thread.join(5)
        assert waiter == ["old"]
        assert cache.stats().stale_discards == 1
        assert "k" not in cache
        assert cache.get_or_load("k", loader, tags=["t"]) == "new"
        assert cache.get("k") == "new"

    def test_caller_after_invalidation_starts_a_fresh_load(self) -> None:
        """A caller arriving after the invalidation does not join the stale load."""
        cache = HydraCache.local()
        first_started, release_first = threading.Event(), threading.Event()
        calls: list[str] = []

        def slow_old() -> str:
            calls.append("old")
            first_started.set()
            release_first.wait(5)
            return "old"

        old: list[Any] = []
        thread = threading.Thread(
            target=lambda: old.append(cache.get_or_load("k", slow_old))
        )
        thread.start()
        assert first_started.wait(5)
        cache.delete("k")
        assert cache.get_or_load("k", lambda: calls.append("new") or "new") == "new"
        release_first.set()
        thread.join(5)
        assert old == ["old"]
        assert calls == ["old", "new"]
        assert cache.get("k") == "new"
        assert cache.stats().stale_discards == 1

    @pytest.mark.parametrize("how", ["tag", "key", "pattern", "clear"])
    def test_no_read_returns_a_value_older_than_a_completed_invalidation(
        self, how: str
    ) -> None:
        """Randomized readers/invalidators: a read never predates an invalidation."""
        assert_no_stale_reads(HydraCache.local(), how)


class TestExactCounters:
    def test_hits_are_exact_under_threads(self) -> None:
        """8 threads x 5,000 hits count exactly 40,000 (no lost increments)."""
        cache = HydraCache.local()
        cache.set("k", 1)

        def hammer(_: int) -> None:
            get = cache.get
            for _ in range(5000):
                get("k")
            cache.get_or_load("k", lambda: 2)

        run_threads(8, hammer)
        stats = cache.stats()
        assert stats.local_hits == 8 * 5001
        assert stats.hits == 8 * 5001
        assert stats.hit_ratio == 1.0

    def test_counts_of_finished_threads_are_kept(self) -> None:
        """Counters of threads that have ended still add up."""
        cache = HydraCache.local()
        for _ in range(20):
            thread = threading.Thread(target=lambda: cache.get("missing"))
            thread.start()
            thread.join()
        assert cache.stats().misses == 20

    def test_size_bound_holds_under_concurrent_writers(self) -> None:
        """Concurrent writers never push the local tier past max_bytes."""
        cache = HydraCache.local(max_bytes="64KB", max_entry_size="4KB")

        def writer(i: int) -> None:
            for n in range(2000):
                cache.set(f"{i}:{n}", "x" * (n % 700))
                cache.get(f"{i}:{n - 5}")

        run_threads(4, writer)
        assert cache.local_store.size <= 64 * 1024
        assert cache.stats().evictions > 0
        assert sum(e.size for e in list(cache.local_store.entries.values())) == (
            cache.local_store.size
        )
