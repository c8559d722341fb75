"""The read-modify-write verbs: add, incr/decr, touch, ttl, delete_many.

Every behaviour runs against three base tiers: the local tier (memory only),
Redis and Postgres, through the ``make`` fixture. Atomicity is shown with real
threads and, for the remote tiers, with two caches (two "processes") sharing
one server: exact counts, one winner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hydracache_sync import (
    Expires,
    HydraCache,
    LocalStore,
    TierPlan,
    TierUnavailableError,
)
from hydracache_sync.testing import FakeClock, MemoryTier

Factory = Callable[[], HydraCache]


@pytest.fixture
def clock() -> FakeClock:
    """The local timer and wall clock of every cache ``make`` builds."""
    return FakeClock(time.time())


@pytest.fixture(params=["local", "redis", "postgres"])
def make(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Factory]:
    """Build caches whose base tier is the parameter; all share one store and
    ``clock``."""
    made: list[HydraCache] = []
    if request.param == "local":
        shared = HydraCache.local(timer=clock, clock=clock)
        made.append(shared)

        def build() -> HydraCache:
            return shared

    elif request.param == "redis":
        from hydracache_sync import RedisStore

        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")

        def build() -> HydraCache:
            cache = HydraCache(
                LocalStore(timer=clock),
                shared=RedisStore.from_url(url, prefix=prefix),
                clock=clock,
            )
            made.append(cache)
            return cache

    else:
        from hydracache_sync import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        schema = request.getfixturevalue("postgres_schema")

        def build() -> HydraCache:
            cache = HydraCache(
                LocalStore(timer=clock),
                durable=PostgresStore(dsn, schema=schema),
                plan=TierPlan(moderate="durable"),
                clock=clock,
            )
            made.append(cache)
            return cache

    yield build
    for cache in made:
        cache.close()


def test_add_stores_only_when_absent(make: Factory) -> None:
    """The first add wins; a second leaves the value alone."""
    cache = make()
    assert cache.add("k", "first") is True
    assert cache.add("k", "second") is False
    assert "first" == cache.get("k")
    assert cache.add("none", None) is True
    assert cache.add("none", 1) is False
    assert "none" in cache


def test_add_after_expiry_and_with_zero_ttl(make: Factory, clock: FakeClock) -> None:
    """An expired key counts as absent; ``ttl=0`` stores nothing."""
    cache = make()
    cache.set("short", 1, ttl=0.3)
    clock.advance(0.6)
    assert cache.add("short", 2, ttl=60) is True
    assert 2 == cache.get("short")
    assert cache.add("zero", 1, ttl=0) is True
    assert "zero" not in cache
    assert cache.add("short", 3, ttl=0) is False


def test_add_is_atomic_across_caches(make: Factory) -> None:
    """Eight threads over two caches add one key: exactly one wins."""
    caches = [make(), make()]
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        barrier.wait()
        if caches[index % 2].add("race", index):
            wins.append(index)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 == len(wins)
    assert wins[0] == caches[0].get("race") == caches[1].get("race")


def test_incr_and_decr(make: Factory) -> None:
    """Counters move by delta; missing keys need ``initial``; non-ints refuse."""
    cache = make()
    cache.set("n", 41)
    assert 42 == cache.incr("n")
    assert 52 == cache.incr("n", 10)
    assert 50 == cache.decr("n", 2)
    assert 50 == cache.get("n")
    with pytest.raises(KeyError):
        cache.incr("missing")
    assert 5 == cache.incr("missing", 2, initial=3)
    assert -1 == cache.decr("other", initial=0)
    cache.set("text", "abc")
    with pytest.raises(TypeError):
        cache.incr("text")
    with pytest.raises(TypeError):
        cache.incr("n", 1.5)  # type: ignore[arg-type]
    assert "abc" == cache.get("text")


def test_incr_keeps_ttl_and_tags(make: Factory) -> None:
    """An increment keeps the entry's remaining TTL and its tags."""
    cache = make()
    cache.set("n", 1, ttl=100, tags=["counters"])
    cache.incr("n")
    left = cache.ttl("n")
    assert left is not None
    assert 90 < left <= 100
    assert 1 == cache.invalidate_tag("counters")
    assert cache.get("n") is None


def test_incr_loses_no_update(make: Factory) -> None:
    """Threads on two caches increment one counter: the exact total."""
    caches = [make(), make()]
    caches[0].set("hits", 0, ttl=60)
    threads, rounds = 6, 20

    def work(index: int) -> None:
        for _ in range(rounds):
            caches[index % 2].incr("hits")

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert threads * rounds == make().get("hits")


def test_other_cache_sees_the_increment(redis_url: str, redis_prefix: str) -> None:
    """A cache holding a local copy reads the other cache's increment (broadcast)."""
    from hydracache_sync import RedisStore

    first, second = (
        HydraCache(shared=RedisStore.from_url(redis_url, prefix=redis_prefix))
        for _ in range(2)
    )
    first.set("n", 1)
    assert 1 == second.get("n")
    first.incr("n")
    deadline = time.monotonic() + 5
    while second.get("n") != 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 2 == second.get("n")
    first.close()
    second.close()


def test_touch_and_ttl(make: Factory) -> None:
    """Touch sets a new TTL from now (NEVER: none; 0: removes); ttl reports it."""
    cache = make()
    cache.set("k", "v", ttl=1)
    assert cache.touch("k", 100) is True
    left = cache.ttl("k")
    assert left is not None
    assert 95 < left <= 100
    assert cache.touch("k", Expires.NEVER) is True
    assert cache.ttl("k") is None
    assert "v" == cache.get("k")
    assert cache.touch("k", 0) is True
    assert "k" not in cache
    assert cache.touch("k", 10) is False
    with pytest.raises(KeyError):
        cache.ttl("k")


def test_touch_extends_life(make: Factory, clock: FakeClock) -> None:
    """A touched entry outlives its first TTL."""
    cache = make()
    cache.set("k", "v", ttl=0.4)
    assert cache.touch("k", 30) is True
    clock.advance(0.7)
    assert "v" == cache.get("k")


def test_delete_many(make: Factory) -> None:
    """Several keys go at once; the count is of those present."""
    cache = make()
    cache.set_many({"a": 1, "b": 2, "c": 3})
    assert 2 == cache.delete_many(["a", "b", "missing", "a"])
    assert {"c": 3} == cache.get_many(["a", "b", "c"])
    assert 0 == cache.delete_many([])


def test_hostile_bytes_are_a_miss(redis_url: str, redis_prefix: str) -> None:
    """Foreign bytes under a key: incr treats the key as missing (counted)."""
    from hydracache_sync import RedisStore

    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    with HydraCache(shared=store) as cache:
        store.client.set(store.value_key("n"), b"\xc8garbage")
        with pytest.raises(KeyError):
            cache.incr("n")
        assert 1 == cache.stats().decode_errors
        assert 8 == cache.incr("n", 1, initial=7)
        assert 8 == cache.get("n")


def test_verbs_on_a_down_tier() -> None:
    """A dead base tier: add/touch degrade to False, incr raises, ttl is missing."""
    tier = MemoryTier()
    with HydraCache(shared=tier, broadcast=False) as cache:
        cache.set("n", 1)
        tier.down = True
        assert cache.add("x", 1) is False
        assert cache.touch("n", 10) is False
        with pytest.raises(TierUnavailableError):
            cache.incr("n")
        with pytest.raises(KeyError):
            cache.ttl("x")
    with HydraCache(shared=MemoryTier(), on_tier_error="raise") as strict:
        strict.tiers["shared"].down = True  # type: ignore[attr-defined]
        with pytest.raises(TierUnavailableError):
            strict.add("x", 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=-(10**6), max_value=10**6), max_size=20))
def test_incr_sums_any_deltas(deltas: list[int]) -> None:
    """Any sequence of deltas sums exactly (local base)."""
    cache = HydraCache.local()
    for delta in deltas:
        cache.incr("n", delta, initial=0)
    assert (sum(deltas) if deltas else None) == cache.get("n")


def test_views_offer_the_verbs(make: Factory) -> None:
    """A namespace view prefixes the verbs' keys like every other call."""
    cache = make()
    view: Any = cache.namespace("ns")
    assert view.add("k", 1) is True
    assert 2 == view.incr("k")
    assert 2 == cache.get("ns:k")
    assert view.touch("k", 50) is True
    assert view.ttl("k") is not None
    assert 1 == view.delete_many(["k"])


def test_never_entries_are_updated_in_the_durable_tier() -> None:
    """An Expires.NEVER entry lives in the durable tier: the verbs update it there."""
    shared, durable = MemoryTier("shared"), MemoryTier("durable")
    with HydraCache(shared=shared, durable=durable, broadcast=False) as cache:
        cache.set("n", 1, ttl=Expires.NEVER)
        assert 2 == cache.incr("n")
        assert cache.add("n", 5) is False  # present in the durable tier
        assert cache.ttl("n") is None
        shared.clear()  # the bounded copies above it are gone
        cache.local_store.clear()
        assert 2 == cache.get("n")
        assert cache.touch("n", 60) is True
        left = durable.ttl_of("n")
        assert left is not None
        assert 55 < left <= 60
