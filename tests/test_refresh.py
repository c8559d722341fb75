"""Refresh without waiting: stale-while-revalidate and XFetch early refresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from hydracache_sync import ConfigError, HydraCache
from hydracache_sync.testing import FakeClock


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hydracache-refresh")]


class Source:
    """A loader whose answers are versioned and whose calls can be held."""

    def __init__(self) -> None:
        self.version = 0
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> str:
        self.calls += 1
        self.gate.wait(5)
        self.version += 1
        return f"v{self.version}"


def test_stale_value_served_while_one_refresh_runs() -> None:
    """Past its ttl the old value returns at once; one refresh replaces it."""
    clock = FakeClock()
    cache = HydraCache.local(timer=clock)
    source = Source()
    assert "v1" == cache.get_or_load("k", source, ttl=10, stale_while_revalidate=30)
    clock.advance(15)
    source.gate.clear()
    started = time.monotonic()
    served = [
        cache.get_or_load("k", source, ttl=10, stale_while_revalidate=30)
        for _ in range(20)
    ]
    assert time.monotonic() - started < 1.0, "callers must not wait for the refresh"
    assert ["v1"] * 20 == served
    source.gate.set()
    assert wait_until(lambda: cache.get("k") is not None)
    assert "v2" == cache.get("k")
    cache.close()  # waits for background work: no refresh thread is left
    stats = cache.stats()
    assert 2 == source.calls
    assert (20, 1, 0) == (stats.stale_hits, stats.refreshes, stats.early_refreshes)
    assert [] == _refresh_threads()


def test_past_the_stale_window_callers_wait_for_a_load() -> None:
    """After ttl + stale window the entry is gone: a normal, blocking load."""
    clock = FakeClock()
    cache = HydraCache.local(timer=clock, stale_while_revalidate=5)
    source = Source()
    cache.get_or_load("k", source, ttl=10)
    clock.advance(16)
    assert "v2" == cache.get_or_load("k", source, ttl=10)
    assert 0 == cache.stats().stale_hits
    assert 1 == cache.stats().expirations
    cache.close()


def test_plain_get_does_not_serve_stale() -> None:
    """get() has no loader to refresh with, so a stale entry is a miss for it."""
    clock = FakeClock()
    cache = HydraCache.local(timer=clock)
    cache.get_or_load("k", lambda: 1, ttl=10, stale_while_revalidate=30)
    clock.advance(11)
    assert cache.get("k") is None
    assert 1 == cache.get_or_load("k", lambda: 2, stale_while_revalidate=30)
    cache.close()


def test_failed_refresh_keeps_the_stale_value() -> None:
    """A refresh that raises leaves the stale value in place and counts the error."""
    clock = FakeClock()
    cache = HydraCache.local(timer=clock)
    cache.get_or_load("k", lambda: "old", ttl=10, stale_while_revalidate=30)
    clock.advance(11)

    def broken() -> str:
        raise RuntimeError("backend down")

    assert "old" == cache.get_or_load("k", broken, ttl=10, stale_while_revalidate=30)
    assert wait_until(lambda: cache.stats().load_errors == 1)
    assert "old" == cache.get_or_load("k", broken, ttl=10, stale_while_revalidate=30)
    cache.close()
    assert 2 == cache.stats().load_errors


def test_early_refresh_starts_before_expiry() -> None:
    """With a large beta, the next hit after a slow load refreshes early."""
    clock = FakeClock()
    cache = HydraCache.local(timer=clock)

    def slow() -> str:
        time.sleep(0.05)
        return "value"

    # beta so large that the drawn early time exceeds the ttl (1 - 2e-9 odds).
    assert "value" == cache.get_or_load("k", slow, ttl=100, early_refresh=1e9)
    assert "value" == cache.get_or_load("k", slow, ttl=100, early_refresh=1e9)
    cache.close()
    stats = cache.stats()
    assert (1, 1, 1) == (stats.stale_hits, stats.refreshes, stats.early_refreshes)
    assert 2 == stats.loads


def test_early_refresh_with_small_beta_keeps_fresh_hits() -> None:
    """With the usual beta and a fast loader, hits stay on the fresh path."""
    cache = HydraCache.local(early_refresh=1.0)
    for _ in range(100):
        cache.get_or_load("k", lambda: 1, ttl=300)
    cache.close()
    assert 99 == cache.stats().local_hits
    assert 0 == cache.stats().refreshes


def test_bad_refresh_options() -> None:
    """Negative windows and non-positive betas are refused."""
    cache = HydraCache.local()
    with pytest.raises(ConfigError):
        cache.get_or_load("k", lambda: 1, stale_while_revalidate=-1)
    with pytest.raises(ConfigError):
        cache.get_or_load("k", lambda: 1, early_refresh=0)
    with pytest.raises(ConfigError):
        HydraCache.local(refresh_workers=0)
