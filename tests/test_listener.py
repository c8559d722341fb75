"""The shared invalidation listener: one per connection pool, weakly held.

Real Redis: caches over one pool share one thread and one subscription; a
dropped cache is collected and leaves no thread, descriptor or server-side
connection behind; a lost channel is logged once, its recovery once.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from test_coherence import wait_for

from hydracache_sync import HydraCache

redis = pytest.importorskip("redis")

from hydracache_sync import RedisStore  # noqa: E402

pytestmark = pytest.mark.redis


# -- one listener per connection pool; dropped caches are collected ------------


def _listeners() -> set[threading.Thread]:
    """The live listener threads (other tests' may come and go meanwhile)."""
    return {t for t in threading.enumerate() if t.name == "hydracache-listener"}


def _gone(threads: set[threading.Thread]) -> bool:
    return not any(t.is_alive() for t in threads)


def _subscribers(admin: Any, name: str) -> int:
    """Server-side pub/sub connections of the clients named ``name``."""
    return sum(
        1
        for c in admin.client_list()
        if c.get("name") == name and int(c.get("sub", 0)) > 0
    )


def _connections(admin: Any, name: str) -> int:
    """Server-side connections of the clients named ``name``."""
    return sum(1 for c in admin.client_list() if c.get("name") == name)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_caches_over_one_pool_share_one_listener(
    redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    """Twelve caches over one client, two prefixes: one thread, one subscription.

    Each cache still hears exactly its own channel's invalidations.
    """
    name = f"hc-share-{os.getpid()}-{time.monotonic_ns()}"
    client = redis.Redis.from_url(redis_url, client_name=name)
    writer = HydraCache(shared=RedisStore.from_url(redis_url, prefix=redis_prefix))
    before = _listeners()
    prefixes = [redis_prefix, redis_prefix + "other:"]
    caches = [
        HydraCache(shared=RedisStore(client, prefix=prefixes[i % 2])) for i in range(12)
    ]
    try:
        assert wait_for(lambda: all(c.listening for c in caches))
        ours = _listeners() - before
        assert 1 == len(ours)
        assert 1 == _subscribers(redis_client, name)
        writer.set("k", "v1")
        for cache in caches:
            assert "v1" == cache.get("k") or cache.get("k") is None
            cache.local_store.entries.clear()
        for cache in caches[::2]:
            assert "v1" == cache.get("k")
            assert "k" in cache.local_store.entries
        for cache in caches[1::2]:
            cache.set("k", "other")
        writer.delete("k")  # reaches the first prefix's caches only
        assert wait_for(
            lambda: all("k" not in c.local_store.entries for c in caches[::2])
        )
        assert all("other" == c.get("k") for c in caches[1::2])

        # The writer's set and delete reach the first prefix only; each cache of
        # the second hears its five siblings' sets, never its own.
        def heard(group: list[HydraCache]) -> list[int]:
            return [c.stats().remote_invalidations for c in group]

        assert wait_for(lambda: [5] * 6 == heard(caches[1::2]))
        assert [2] * 6 == heard(caches[::2])
    finally:
        for cache in caches:
            cache.close()
        writer.close()
    assert _gone(ours)
    assert wait_for(lambda: 0 == _subscribers(redis_client, name))
    client.close()


def test_a_dropped_cache_is_collected_and_its_listener_ends(
    redis_url: str, redis_prefix: str
) -> None:
    """Nothing but the user keeps a cache alive; its listener goes with it."""
    client = redis.Redis.from_url(redis_url)
    before = _listeners()
    cache: HydraCache | None = HydraCache(
        shared=RedisStore(client, prefix=redis_prefix)
    )
    assert cache is not None
    assert cache.listening
    ours = _listeners() - before
    assert 1 == len(ours)
    ref = weakref.ref(cache)
    del cache
    gc.collect()
    assert ref() is None
    assert wait_for(lambda: _gone(ours))
    client.close()


def test_closing_the_last_cache_stops_the_listener_at_once(
    redis_url: str, redis_prefix: str
) -> None:
    """close() of the last cache on a pool waits for the listener thread."""
    client = redis.Redis.from_url(redis_url)
    before = _listeners()
    first = HydraCache(shared=RedisStore(client, prefix=redis_prefix))
    second = HydraCache(shared=RedisStore(client, prefix=redis_prefix))
    assert first.listening
    assert second.listening
    ours = _listeners() - before
    assert 1 == len(ours)
    first.close()
    assert not first.listening
    assert second.listening
    assert not _gone(ours)
    second.close()
    assert _gone(ours)
    client.close()


def test_more_caches_than_pool_connections(redis_url: str, redis_prefix: str) -> None:
    """150 live caches over one client with a 20-connection pool all work.

    Before the shared listener each cache held one pub/sub connection, so the
    21st cache exhausted the pool and every later Redis call failed.
    """
    client = redis.Redis.from_url(redis_url, max_connections=20)
    caches = [
        HydraCache(shared=RedisStore(client, prefix=redis_prefix)) for _ in range(150)
    ]
    try:
        caches[0].set("k", "v")
        assert all("v" == c.get("k") for c in caches)
        assert 0 == sum(c.stats().tier_errors for c in caches)
        assert all(c.listening for c in caches)
    finally:
        for cache in caches:
            cache.close()
        client.close()


def _drop_caches(count: int, make: Any) -> None:
    for _ in range(count):
        cache = make()
        cache.set("k", "v")
        assert "v" == cache.get("k")
        del cache


@pytest.mark.parametrize("own_client", [False, True])
def test_dropped_caches_leave_no_threads_fds_or_connections(
    redis_url: str, redis_prefix: str, redis_client: Any, own_client: bool
) -> None:
    """Hundreds of caches dropped without close(): no growth anywhere.

    Counted after a warm-up round: threads in this process, open file
    descriptors, and the server's connections of clients with our name (so
    other users of the shared server do not count).
    """
    name = f"hc-drop-{os.getpid()}-{time.monotonic_ns()}"
    shared = redis.Redis.from_url(redis_url, client_name=name)

    def make() -> HydraCache:
        if own_client:
            store = RedisStore.from_url(
                redis_url, prefix=redis_prefix, client_name=name
            )
        else:
            store = RedisStore(shared, prefix=redis_prefix)
        return HydraCache(shared=store)

    def settled() -> tuple[int, int, int]:
        gc.collect()
        deadline = time.monotonic() + 5
        counts = (
            threading.active_count(),
            _open_fds(),
            _connections(redis_client, name),
        )
        while time.monotonic() < deadline:
            time.sleep(0.25)
            gc.collect()
            again = (
                threading.active_count(),
                _open_fds(),
                _connections(redis_client, name),
            )
            if again == counts:
                break
            counts = again
        return counts

    _drop_caches(20, make)
    before = settled()
    _drop_caches(200, make)
    after = settled()
    shared.close()
    assert before[0] >= after[0], "threads"
    assert before[1] >= after[1], "file descriptors"
    assert before[2] >= after[2], "server-side connections"


@pytest.mark.fault
def test_lost_channel_is_logged_once_and_its_recovery_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A WARNING when the channel goes (however long), an INFO when it is back."""
    from tiers.test_redis_fault import PrivateRedis

    server = PrivateRedis(tmp_path / "redis")
    server.start()
    caplog.set_level(logging.INFO, logger="hydracache_sync")
    try:
        cache = HydraCache(shared=RedisStore.from_url(server.url, prefix="log:"))
        assert cache.listening
        server.stop()
        assert wait_for(lambda: not cache.listening, 5.0)
        time.sleep(2.5)  # several reconnect attempts fail meanwhile
        server.start()
        assert wait_for(lambda: cache.listening, 10.0)
        cache.close()
    finally:
        server.stop()
    channel = [r for r in caplog.records if "invalidation channel" in r.getMessage()]
    assert [logging.WARNING, logging.INFO] == [r.levelno for r in channel]
    assert (
        "local copies dropped; reads go to Redis until it is back"
        in channel[0].getMessage()
    )
