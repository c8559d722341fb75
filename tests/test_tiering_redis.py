"""HydraCache over a real RedisStore: what only Redis does at the cache level.

A dead server and its error policy, a server killed or frozen under load, and
the stale-load rule through Redis' check-and-set. Behaviour every tier stack
shares (placement, promotion, sharing, invalidation, expiry, untrusted bytes)
is the contract in ``tests/test_contract.py``; the tier on its own is tested in
``tests/tiers/test_redis*.py``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_outage_is_hidden, free_port

from hydracache_sync import (
    HydraCache,
    TierError,
    TierTTLs,
    TierUnavailableError,
)

redis = pytest.importorskip("redis")

from tiers.test_redis_fault import PrivateRedis  # noqa: E402

from hydracache_sync import RedisStore  # noqa: E402

pytestmark = pytest.mark.redis


@pytest.fixture
def make_store(redis_url: str, redis_prefix: str) -> Iterator[Callable[[], RedisStore]]:
    """Build stores on the test's prefix (all closed afterwards)."""
    stores: list[RedisStore] = []

    def make() -> RedisStore:
        store = RedisStore.from_url(redis_url, prefix=redis_prefix)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


class TestTierErrors:
    """A Redis that cannot be reached."""

    @pytest.fixture
    def dead_store(self) -> Iterator[RedisStore]:
        """A store pointed at a loopback port where nothing listens."""
        store = RedisStore.from_url(
            f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.3
        )
        yield store
        store.close()

    def test_raise_policy_raises_tier_error(self, dead_store: RedisStore) -> None:
        """``on_tier_error="raise"`` lets TierError reach the caller."""
        cache = HydraCache(shared=dead_store, on_tier_error="raise")
        with pytest.raises(TierError) as info:
            cache.get("k")
        assert isinstance(info.value, TierUnavailableError)
        assert "redis" == info.value.tier
        with pytest.raises(TierError):
            cache.set("k", "v")

    def test_degrade_policy_is_a_miss(self, dead_store: RedisStore) -> None:
        """By default a dead Redis is a miss and a counted tier error."""
        cache = HydraCache(shared=dead_store)
        assert "miss" == cache.get("k", "miss")
        cache.set("k", "v", ttl=60)
        assert "v" == cache.get("k")
        assert 1 <= cache.stats().tier_errors


@pytest.mark.fault
def test_server_killed_under_eight_threads(tmp_path: Path) -> None:
    """Callers never see the outage; after a restart Redis serves hits again."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    store = RedisStore.from_url(
        server.url, prefix="kill:", socket_timeout=0.3, socket_connect_timeout=0.3
    )
    cache = HydraCache(shared=store, promotion=TierTTLs(local=0.05))

    def outage() -> None:
        time.sleep(0.3)
        server.kill()
        time.sleep(0.5)
        server.start()  # same port, empty (no persistence)
        time.sleep(0.3)

    try:
        # Local copies live 50 ms: once the breaker lets Redis back in, loads
        # land there again and reads come from Redis.
        assert_outage_is_hidden(
            cache, outage, lambda: cache.stats().shared_hits, ttl=30
        )
        assert store.get("k0") is not None
    finally:
        store.close()
        server.stop()


@pytest.mark.parametrize("how", ["tag", "key", "pattern", "clear"])
def test_no_stale_read_when_values_come_from_redis(how: str, make_store: Any) -> None:
    """The stale-load rule holds with Redis as the base tier (threads, random)."""
    from test_singleflight import assert_no_stale_reads

    # Local copies live 5 ms, so many reads go through Redis and promotion;
    # invalidations come every 0-20 ms, so loads also land in Redis.
    cache = HydraCache(shared=make_store(), promotion=TierTTLs(local=0.005))
    try:
        assert_no_stale_reads(cache, how, seconds=1.0, pause=0.02)
        assert cache.stats().shared_hits > 0
    finally:
        cache.close()


def _stall_store(server: PrivateRedis) -> RedisStore:
    return RedisStore.from_url(
        server.url, prefix="stall:", socket_timeout=0.3, socket_connect_timeout=0.3
    )


@pytest.mark.fault
@pytest.mark.timeout(60)
def test_stall_under_write_load_loses_no_invalidation_and_wipes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis SIGSTOPped while one cache deletes a key another cache holds and
    writes 2,000 values, with a replay limit of 50 overflowed by 100 deletes:
    no entry of the other cache is wiped, and after SIGCONT the other cache
    and Redis stop showing the deleted value without the deleting cache being
    called again."""
    from hydracache_sync import _resilience

    monkeypatch.setattr(_resilience, "MAX_PENDING", 50)
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    writer = HydraCache(shared=_stall_store(server), breaker_cooldown=0.2)
    other = HydraCache(shared=_stall_store(server), breaker_cooldown=0.2)
    probe = _stall_store(server)
    try:
        for i in range(200):
            other.set(f"theirs:{i}", i)
        writer.set("victim", "old")
        assert "old" == other.get("victim")
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            writer.delete("victim")
            for i in range(2000):
                writer.set(f"mine:{i}", i)
            for i in range(100):
                writer.delete(f"gone:{i}")
        finally:
            server.process.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while probe.get("victim") is not None or other.get("victim") is not None:
            assert time.monotonic() < deadline, "the delete was never replayed"
            time.sleep(0.05)
        theirs = probe.get_many([f"theirs:{i}" for i in range(200)])
        assert 200 == sum(data is not None for data in theirs)
        # 101 deletes, each queued twice (the Redis delete and its broadcast).
        assert 2 * 101 - 50 == writer.stats().dropped_invalidations
    finally:
        for cache in (writer, other):
            cache.close()
        probe.close()
        server.stop()


@pytest.mark.fault
@pytest.mark.timeout(60)
def test_close_delivers_invalidations_queued_during_a_stall(tmp_path: Path) -> None:
    """A delete queued while Redis was frozen reaches Redis when the deleting
    cache closes, before its breaker would have let it probe."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    writer = HydraCache(shared=_stall_store(server), breaker_cooldown=60)
    probe = _stall_store(server)
    try:
        writer.set("victim", "old", ttl=3600)
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            writer.delete("victim")
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert probe.get("victim") is not None
        writer.close()
        assert probe.get("victim") is None
        assert 0 == writer.stats().dropped_invalidations
    finally:
        writer.close()
        probe.close()
        server.stop()
