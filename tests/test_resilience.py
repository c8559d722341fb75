"""A failing remote tier degrades (miss, skip, count, break) or raises when strict."""

from __future__ import annotations

import logging
import threading

import pytest

from hydracache_sync import HydraCache, TierError, TierUnavailableError
from hydracache_sync.testing import MemoryTier


def test_down_tier_degrades_to_the_loader() -> None:
    """Reads miss, writes skip, errors count; callers never see the failure."""
    shared = MemoryTier()
    shared.down = True
    cache = HydraCache(shared=shared, breaker_cooldown=60)
    assert cache.get_or_load("k", lambda: 5) == 5
    assert cache.get("k") == 5
    stats = cache.stats()
    assert stats.tier_errors >= 1
    assert stats.loads == 1


def test_breaker_skips_then_probes() -> None:
    """After a failure the tier is skipped for the cool-down, then probed again."""
    shared = MemoryTier()
    cache = HydraCache(shared=shared, breaker_cooldown=0.2)
    shared.down = True
    cache.get("a")
    calls = shared.calls
    for _ in range(50):
        cache.get("a")
    assert calls == shared.calls, "breaker open: the tier is not called"
    shared.down = False
    threading.Event().wait(0.25)
    cache.set("b", 1)
    assert HydraCache(shared=shared).get("b") == 1
    assert cache.stats().tier_errors == 1


def test_warning_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """One warning per interval, however many failures."""
    shared = MemoryTier()
    shared.down = True
    cache = HydraCache(shared=shared, breaker_cooldown=0, warn_interval=60)
    with caplog.at_level(logging.WARNING, logger="hydracache_sync"):
        for i in range(20):
            cache.get(f"k{i}")
    assert sum("failed" in r.getMessage() for r in caplog.records) == 1
    assert cache.stats().tier_errors == 20


def test_strict_mode_raises() -> None:
    """on_tier_error='raise' turns the failure into a TierError."""
    shared = MemoryTier()
    shared.down = True
    cache = HydraCache(shared=shared, on_tier_error="raise")
    with pytest.raises(TierUnavailableError):
        cache.get("k")
    with pytest.raises(TierError):
        cache.set("k", 1)
    with pytest.raises(TierError):
        cache.invalidate_tag("t")


def test_invalidation_missed_while_down_is_replayed() -> None:
    """An invalidation that could not reach the tier runs before it serves again."""
    shared = MemoryTier()
    writer = HydraCache(shared=shared, breaker_cooldown=0)
    writer.set("user:1", "old", tags=["user:1"])
    writer.set("user:2", "old")
    shared.down = True
    writer.invalidate_tag("user:1")
    writer.delete("user:2")
    shared.down = False
    writer.local_store.clear()  # force reads through to the shared tier
    assert writer.get("user:1") is None
    assert writer.get("user:2") is None
    assert shared.keys() == []


def test_tier_latency_is_counted_exactly_under_threads() -> None:
    """8 threads x 500 remote reads: exactly 4,000 timed calls of ``get``."""
    shared = MemoryTier()
    cache = HydraCache(shared=shared)
    barrier = threading.Barrier(8)

    def reader() -> None:
        barrier.wait()
        for i in range(500):
            cache.get(f"missing:{i}")

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = {(r.tier, r.op): r for r in cache.stats().tier_latency}
    get = rows[("shared:memory", "get")]
    assert (4000, 0) == (get.calls, get.errors)
    assert get.seconds > 0


def test_too_many_missed_invalidations_clear_the_tier_on_recovery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the replay limit the tier is cleared when it comes back, not replayed."""
    from hydracache_sync import _resilience

    monkeypatch.setattr(_resilience, "MAX_PENDING", 3)
    shared = MemoryTier()
    writer = HydraCache(shared=shared, breaker_cooldown=0)
    writer.set("keep-or-not", 1)
    shared.down = True
    for i in range(5):
        writer.delete(f"k{i}")
    shared.down = False
    assert writer.get("anything") is None  # the first call replays: a clear
    assert [] == shared.keys()


def test_bad_tag_and_pattern_arguments() -> None:
    """Invalidating with an empty or non-str tag or pattern is an InvalidKey."""
    from hydracache_sync import InvalidKey

    cache = HydraCache.local()
    for bad in ("", None, 5):
        with pytest.raises(InvalidKey):
            cache.invalidate_tag(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            cache.invalidate(bad)  # type: ignore[arg-type]
