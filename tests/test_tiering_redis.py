"""HydraCache over a real RedisStore: placement, promotion, sharing, trust, faults.

The tier-level behaviour of ``RedisStore`` lives in ``tests/tiers/test_redis*.py``;
here the cache core drives it. Where an entry went is observed directly: the
local tier through ``cache.local_store``, Redis through the store (its bytes and
its key's PTTL).
"""

from __future__ import annotations

import functools
import pathlib
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from hydracache_sync import (
    Cost,
    Expires,
    HydraCache,
    Tier,
    TierError,
    TierPlan,
    TierTTLs,
    TierUnavailableError,
)
from hydracache_sync._envelope import pack

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


@pytest.fixture
def store(make_store: Callable[[], RedisStore]) -> RedisStore:
    """One store on the test's prefix."""
    return make_store()


def _local_ttl(cache: HydraCache, key: str) -> float:
    """Seconds left on ``key``'s local copy (``inf`` when it never expires)."""
    entry = cache.local_store.lookup(key)
    assert entry is not None, f"{key!r} is not in the local tier"
    return entry.expires_at - cache.local_store.timer()


def _redis_ttl_ms(store: RedisStore, key: str) -> int:
    """PTTL of ``key``'s value in Redis (-2 absent, -1 no expiry)."""
    return int(store.client.pttl(store.value_key(key)))


class TestPlacement:
    """Which tier an entry lands in, per cost, with and without Redis."""

    @pytest.mark.parametrize(
        ("cost", "base"),
        [
            (Cost.CHEAP, Tier.LOCAL),
            (Cost.MODERATE, Tier.SHARED),
            (Cost.EXPENSIVE, Tier.SHARED),  # no durable tier: the nearest below
        ],
    )
    def test_with_redis(self, store: RedisStore, cost: Cost, base: Tier) -> None:
        """Redis holds MODERATE/EXPENSIVE with the full TTL; local a bounded copy."""
        cache = HydraCache(shared=store, promotion=TierTTLs(local=5, shared=50))
        assert base == cache.base_tier(cost)
        cache.set("k", "v", ttl=100, cost=cost)
        if base is Tier.LOCAL:
            assert store.get("k") is None
            assert 99 < _local_ttl(cache, "k") <= 100
        else:
            assert store.get("k") is not None
            assert 99_000 < _redis_ttl_ms(store, "k") <= 100_000
            assert 4 < _local_ttl(cache, "k") <= 5
            assert "v" == HydraCache(shared=store).get("k")

    @pytest.mark.parametrize("cost", list(Cost))
    def test_without_redis(self, cost: Cost) -> None:
        """With no shared tier, every cost lives locally with its full TTL."""
        cache = HydraCache(promotion=TierTTLs(local=5))
        assert Tier.LOCAL == cache.base_tier(cost)
        cache.set("k", "v", ttl=100, cost=cost)
        assert 99 < _local_ttl(cache, "k") <= 100

    def test_never_expiring_entry_without_durable(self, store: RedisStore) -> None:
        """``Expires.NEVER`` without Postgres: Redis keeps it forever, local bounded."""
        cache = HydraCache(shared=store, promotion=TierTTLs(local=5))
        cache.set("k", "v", ttl=Expires.NEVER)
        assert -1 == _redis_ttl_ms(store, "k")
        assert 4 < _local_ttl(cache, "k") <= 5

    def test_plan_sends_cheap_entries_to_redis(self, store: RedisStore) -> None:
        """A TierPlan can put CHEAP entries in Redis."""
        cache = HydraCache(
            shared=store, plan=TierPlan(cheap="shared", expensive="shared")
        )
        cache.set("k", "v", ttl=100, cost=Cost.CHEAP)
        assert 99_000 < _redis_ttl_ms(store, "k") <= 100_000

    def test_default_ttl_reaches_redis(self, store: RedisStore) -> None:
        """``default_ttl`` applies to entries stored without a ttl."""
        cache = HydraCache(shared=store, default_ttl=30)
        cache.set("k", "v")
        assert 29_000 < _redis_ttl_ms(store, "k") <= 30_000


class TestPromotion:
    """A Redis hit is promoted into local for min(remaining, TierTTLs.local)."""

    def test_bounded_by_the_promotion_ttl(self, make_store: Any) -> None:
        """A long-lived Redis entry is promoted for TierTTLs.local only."""
        HydraCache(shared=make_store()).set("k", {"n": 1}, ttl=100)
        reader = HydraCache(shared=make_store(), promotion=TierTTLs(local=2))
        assert {"n": 1} == reader.get("k")
        assert 1.5 < _local_ttl(reader, "k") <= 2
        assert {"n": 1} == reader.get("k")
        stats = reader.stats()
        assert (1, 1, 1) == (stats.local_hits, stats.shared_hits, stats.promotions)

    def test_bounded_by_the_remaining_ttl(self, make_store: Any) -> None:
        """An entry about to expire in Redis is promoted only for what is left."""
        HydraCache(shared=make_store()).set("k", "v", ttl=0.5)
        reader = HydraCache(shared=make_store(), promotion=TierTTLs(local=60))
        assert "v" == reader.get("k")
        assert 0 < _local_ttl(reader, "k") <= 0.5
        time.sleep(0.55)
        assert "miss" == reader.get("k", "miss")

    def test_get_many_promotes_each_hit(self, make_store: Any) -> None:
        """``get_many`` reads Redis once and promotes what it found."""
        HydraCache(shared=make_store()).set_many({"a": 1, "b": 2}, ttl=60)
        reader = HydraCache(shared=make_store())
        assert {"a": 1, "b": 2} == reader.get_many(["a", "b", "c"])
        stats = reader.stats()
        assert (2, 2, 1) == (stats.shared_hits, stats.promotions, stats.misses)
        assert {"a": 1} == reader.get_many(["a"])
        assert 1 == reader.stats().local_hits

    def test_get_or_load_hit_in_redis_is_a_hit_not_a_miss(
        self, make_store: Any
    ) -> None:
        """Each lookup counts once: a Redis hit through get_or_load is no miss."""
        HydraCache(shared=make_store()).set("k", 1, ttl=60)
        reader = HydraCache(shared=make_store())
        assert 1 == reader.get_or_load("k", lambda: 2)  # Redis
        assert 1 == reader.get_or_load("k", lambda: 2)  # the promoted copy
        assert 3 == reader.get_or_load("cold", lambda: 3)  # nowhere: loaded
        stats = reader.stats()
        assert (1, 1, 1, 1) == (
            stats.shared_hits,
            stats.local_hits,
            stats.misses,
            stats.loads,
        )
        assert 2 / 3 == stats.hit_ratio


class TestSharing:
    """Two caches on one prefix, as two processes would be."""

    def test_writes_are_seen(self, make_store: Any) -> None:
        """A value set by one cache is read by the other from Redis."""
        one, two = HydraCache(shared=make_store()), HydraCache(shared=make_store())
        one.set("users:1", {"name": "Ada"}, ttl=60)
        assert {"name": "Ada"} == two.get("users:1")
        assert 1 == two.stats().shared_hits

    def test_tag_invalidation_reaches_the_other_within_the_promotion_ttl(
        self, make_store: Any
    ) -> None:
        """After a tag invalidation the other cache serves it <= TierTTLs.local."""
        ttls = TierTTLs(local=0.3)
        one = HydraCache(shared=make_store(), promotion=ttls)
        two = HydraCache(shared=make_store(), promotion=ttls)
        one.set("users:1", 1, ttl=60, tags=["users"])
        one.set("users:2", 2, ttl=60, tags=["users", "user:2"])
        one.set("teams:1", 3, ttl=60, tags=["teams"])
        assert [1, 2, 3] == [two.get("users:1"), two.get("users:2"), two.get("teams:1")]
        assert 2 == one.invalidate_tag("users")
        # In-process at once; in Redis at once.
        assert ["gone", "gone"] == [
            one.get("users:1", "gone"),
            one.get("users:2", "gone"),
        ]
        assert [None, None] == one.tiers["shared"].get_many(["users:1", "users:2"])
        # The other cache's promoted copies live at most TierTTLs.local.
        time.sleep(0.35)
        assert ["gone", "gone", 3] == [
            two.get("users:1", "gone"),
            two.get("users:2", "gone"),
            two.get("teams:1", "gone"),
        ]

    def test_wildcard_invalidation_reaches_the_other_within_the_promotion_ttl(
        self, make_store: Any
    ) -> None:
        """A wildcard invalidation by one cache removes the Redis entries for both."""
        ttls = TierTTLs(local=0.3)
        one = HydraCache(shared=make_store(), promotion=ttls)
        two = HydraCache(shared=make_store(), promotion=ttls)
        for key in ["users:1", "users:1:posts:2", "users:12", "teams:1"]:
            one.set(key, key, ttl=60)
            assert key == two.get(key)
        assert 3 == two.invalidate("users:1*")
        time.sleep(0.35)
        assert ["gone", "gone", "gone", "teams:1"] == [
            one.get(key, "gone")
            for key in ["users:1", "users:1:posts:2", "users:12", "teams:1"]
        ]

    def test_delete_and_clear_reach_redis(self, make_store: Any) -> None:
        """``delete`` and ``clear`` remove the Redis copies too."""
        store = make_store()
        one, two = HydraCache(shared=store), HydraCache(shared=make_store())
        one.set("a", 1, ttl=60)
        one.set("b", 2, ttl=60)
        assert one.delete("a") is True
        assert "gone" == two.get("a", "gone")
        one.clear()
        assert [None, None] == store.get_many(["a", "b"])


class TestUntrustedBytes:
    """Bytes in Redis are untrusted input: never a crash, never code."""

    def test_corrupt_bytes_are_a_counted_miss(
        self, store: RedisStore, redis_client: Any
    ) -> None:
        """Garbage written raw under the value key is a miss and one decode error."""
        redis_client.set(store.value_key("k"), b"\xc8\x01garbage")
        cache = HydraCache(shared=store)
        assert "miss" == cache.get("k", "miss")
        stats = cache.stats()
        assert (1, 0, 1) == (stats.decode_errors, stats.shared_hits, stats.misses)
        assert "fresh" == cache.get_or_load("k", lambda: "fresh", ttl=60)
        assert "fresh" == HydraCache(shared=store).get("k")

    @staticmethod
    def _exploit(marker: Path) -> bytes:
        """A pickle whose loading creates ``marker`` (proved on a control file)."""

        class Exploit:
            def __init__(self, path: Path) -> None:
                self.path = path

            def __reduce__(self) -> tuple[Any, tuple[Path]]:
                return (pathlib.Path.touch, (self.path,))

        control = marker.with_name("control")
        pickle.loads(pickle.dumps(Exploit(control)))  # noqa: S301 - the control
        assert control.exists()
        return pickle.dumps(Exploit(marker))

    def test_raw_pickle_is_never_unpickled(
        self, store: RedisStore, redis_client: Any, tmp_path: Path
    ) -> None:
        """A pickle written raw is a miss, and its code never runs."""
        marker = tmp_path / "pwned"
        redis_client.set(store.value_key("k"), self._exploit(marker))
        cache = HydraCache(shared=store)
        assert "miss" == cache.get("k", "miss")
        assert not marker.exists()
        assert 1 == cache.stats().decode_errors

    def test_pickle_inside_an_envelope_is_never_unpickled(
        self, store: RedisStore, redis_client: Any, tmp_path: Path
    ) -> None:
        """A well-framed envelope around a pickle body is corrupt: a miss, no code."""
        marker = tmp_path / "pwned"
        data = pack("k", self._exploit(marker), flags=0, expires_at=None, tags=())
        redis_client.set(store.value_key("k"), data)
        cache = HydraCache(shared=store)
        assert "miss" == cache.get("k", "miss")
        assert not marker.exists()
        assert 1 == cache.stats().decode_errors

    def test_entry_signed_with_another_secret_is_a_miss(self, make_store: Any) -> None:
        """With ``secret=``, entries signed with another secret are misses."""
        HydraCache(shared=make_store(), secret="alpha" * 4).set("k", "v", ttl=60)
        assert "v" == HydraCache(shared=make_store(), secret="alpha" * 4).get("k")
        other = HydraCache(shared=make_store(), secret="beta" * 4)
        assert "miss" == other.get("k", "miss")
        assert 1 == other.stats().decode_errors
        unsigned = HydraCache(shared=make_store())
        assert "miss" == unsigned.get("k", "miss")
        assert 1 == unsigned.stats().decode_errors


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
    keys = [f"k{i}" for i in range(16)]

    def value_of(key: str) -> str:
        return f"value-of-{key}"

    errors: list[BaseException] = []
    wrong: list[tuple[str, Any]] = []
    calls = [0] * 8
    stop = threading.Event()

    def worker(number: int) -> None:
        index = number
        while not stop.is_set():
            key = keys[index % len(keys)]
            index += 1
            try:
                value = cache.get_or_load(key, functools.partial(value_of, key), ttl=30)
            except BaseException as exc:
                errors.append(exc)
                return
            if value != value_of(key):
                wrong.append((key, value))
            calls[number] += 1
            time.sleep(0.001)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        server.kill()
        time.sleep(0.5)
        server.start()  # same port, empty (no persistence)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    try:
        assert [] == errors
        assert [] == wrong
        assert all(calls), calls
        during = cache.stats()
        assert 0 < during.tier_errors
        # Once the breaker lets Redis back in, loads land there again and, with
        # local copies living 50 ms, reads come from Redis.
        deadline = time.monotonic() + 8
        while cache.stats().shared_hits <= during.shared_hits:
            assert time.monotonic() < deadline, "Redis never served again"
            for key in keys:
                cache.get_or_load(key, functools.partial(value_of, key), ttl=30)
            time.sleep(0.06)
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
