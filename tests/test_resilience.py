"""A failing remote tier degrades (miss, skip, count, break) or raises when strict."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from hydracache_sync import HydraCache, TierError, TierUnavailableError
from hydracache_sync._resilience import TierGuard
from hydracache_sync._stats import Counters
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


def test_overflow_never_clears_the_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the replay limit nothing is cleared on recovery: another process's
    entries survive, the queued invalidations are replayed, the lost ones are
    counted, and the loss handler runs once the tier is back."""
    from hydracache_sync import _resilience

    monkeypatch.setattr(_resilience, "MAX_PENDING", 3)
    shared = MemoryTier()
    other = HydraCache(shared=shared)
    for i in range(10):
        other.set(f"theirs:{i}", i)
    writer = HydraCache(shared=shared, breaker_cooldown=60)
    writer.set("mine", 1)
    shared.down = True
    for i in range(5):
        writer.delete(f"k{i}")
    shared.down = False
    writer.close()  # delivers the queue (the breaker is still open)
    live = shared.keys()
    assert [f"theirs:{i}" for i in range(10)] == sorted(
        k for k in live if k.startswith("theirs:")
    )
    assert 2 == writer.stats().dropped_invalidations


def test_guard_coalesces_per_key_and_a_clear_supersedes() -> None:
    """100 deletes of one key and 50 of one tag queue two items; a clear
    replaces everything queued; a plain set notification is never queued."""
    guard = TierGuard("t", strict=False, counters=Counters(), cooldown=60)
    try:
        for _ in range(100):
            guard.invalidate(_down, "a", key=("tier", "k", "a"))
        for _ in range(50):
            guard.invalidate(_down, "t", key=("tier", "t", "t"))
        assert 2 == guard.pending
        guard.invalidate(_down, key=None)
        assert 2 == guard.pending
        guard.invalidate(_down, key=("tier", "c", ""))
        assert 1 == guard.pending
    finally:
        guard.close()


def test_poisoned_item_is_dropped_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An item the tier refuses (raw error or TierError) is dropped, counted and
    logged, and the items after it are still delivered."""
    counters = Counters()
    guard = TierGuard("t", strict=False, counters=counters, cooldown=60)
    delivered: list[str] = []
    down = [True]

    def tier_call(kind: str) -> int:
        if down[0]:
            raise TierUnavailableError("down", tier="t")
        if kind == "raw":
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        if kind == "refused":
            raise TierError("index row size exceeds maximum", tier="t")
        delivered.append(kind)
        return 1

    try:
        for kind in ("raw", "refused", "good"):
            guard.invalidate(tier_call, kind, key=("tier", "k", kind))
        assert 3 == guard.pending
        down[0] = False
        with caplog.at_level(logging.WARNING, logger="hydracache_sync"):
            guard.close()
    finally:
        guard.close()
    assert ["good"] == delivered
    assert 0 == guard.pending
    assert 2 == counters.snapshot().dropped_invalidations
    assert 2 == sum("dropped invalidation" in r.getMessage() for r in caplog.records)


def test_replayed_at_recovery_without_a_user_call() -> None:
    """Another reader of the tier sees the delete within a few cool-downs of
    recovery although the deleting cache is never called again."""
    shared = MemoryTier()
    writer = HydraCache(shared=shared, breaker_cooldown=0.1)
    writer.set("k", "old")
    shared.down = True
    writer.delete("k")
    assert ["k"] == shared.keys()
    shared.down = False
    deadline = time.monotonic() + 5
    while shared.keys() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [] == shared.keys()
    assert "miss" == HydraCache(shared=shared).get("k", "miss")
    writer.close()


def test_close_delivers_the_queue() -> None:
    """close() replays what is queued even while the breaker is still open."""
    shared = MemoryTier()
    writer = HydraCache(shared=shared, breaker_cooldown=60)
    writer.set("k", "old", tags=["t"])
    shared.down = True
    writer.invalidate_tag("t")
    shared.down = False
    writer.close()
    assert [] == shared.keys()
    assert 0 == writer.stats().dropped_invalidations


def test_close_with_the_tier_down_counts_what_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the tier is still down at close(), the undelivered items are
    counted and logged, and close() does not hang."""
    shared = MemoryTier()
    writer = HydraCache(shared=shared, breaker_cooldown=60, broadcast=False)
    shared.down = True
    writer.delete("a")
    writer.delete("b")
    with caplog.at_level(logging.WARNING, logger="hydracache_sync"):
        writer.close()
    assert 2 == writer.stats().dropped_invalidations
    assert any("undelivered" in r.getMessage() for r in caplog.records)


def _down(*args: object) -> int:
    raise TierUnavailableError("down", tier="t")


def test_bad_tag_and_pattern_arguments() -> None:
    """Invalidating with an empty or non-str tag or pattern is an InvalidKey."""
    from hydracache_sync import InvalidKey

    cache = HydraCache.local()
    for bad in ("", None, 5):
        with pytest.raises(InvalidKey):
            cache.invalidate_tag(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            cache.invalidate(bad)  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_starts_with_an_empty_queue_and_free_locks() -> None:
    """A child forked while another thread is replaying (holding the replay
    lock) starts with no queue (the parent delivers it) and can queue and
    deliver on its own without deadlocking."""
    guard = TierGuard("t", strict=False, counters=Counters(), cooldown=60)
    up = threading.Event()
    replaying = threading.Event()
    release = threading.Event()
    delivered: list[str] = []

    def tier_call(arg: str) -> int:
        if not up.is_set():
            raise TierUnavailableError("down", tier="t")
        if arg == "slow":
            replaying.set()
            release.wait(10)
        delivered.append(arg)
        return 1

    guard.invalidate(tier_call, "slow", key=("tier", "k", "slow"))
    up.set()
    replayer = threading.Thread(target=guard.close)  # replays, holding the lock
    replayer.start()
    assert replaying.wait(5)
    pid = os.fork()
    if pid == 0:  # the child reports through its exit status
        signal.alarm(10)  # a deadlock ends in SIGALRM, not a hung test
        ok = guard.pending == 0
        guard.invalidate(tier_call, "child", key=("tier", "k", "child"))
        guard.close()
        os._exit(0 if ok and delivered[-1:] == ["child"] else 1)
    release.set()
    replayer.join()
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status)
    assert ["slow"] == delivered
