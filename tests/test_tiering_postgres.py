"""HydraCache over a real PostgresStore: what only Postgres does at the cache level.

Postgres under Redis (promotion through both, a negative promoted from its
native ``is_none`` form), that form and the secret, and a server stopped or
frozen under load. Behaviour every tier stack shares (placement, restarts,
promotion, invalidation, expiry, negative caching, untrusted rows) is the
contract in ``tests/test_contract.py``; the tier on its own is tested in
``tests/tiers/test_postgres*.py``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import assert_outage_is_hidden
from test_contract import PostgresProbe, RedisProbe

from hydracache_sync import Cost, Expires, HydraCache, TierTTLs
from hydracache_sync._contract import whole
from hydracache_sync._envelope import trusted_negative
from hydracache_sync.testing import Stack

psycopg2 = pytest.importorskip("psycopg2")

from tiers.test_postgres_fault import PrivatePostgres  # noqa: E402

from hydracache_sync import PostgresStore  # noqa: E402
from hydracache_sync.tiers.postgres import migration_sql  # noqa: E402

pytestmark = pytest.mark.postgres
SECRET = "a-secret-of-at-least-16-bytes"
NEGATIVE: dict[str, Any] = {"ttl": 600, "negative_ttl": 60, "cost": Cost.EXPENSIVE}


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> PostgresProbe:
    """Postgres on the test's schema."""
    return PostgresProbe(request)


@pytest.fixture
def durable(pg: PostgresProbe) -> Iterator[Stack]:
    """Caches over Postgres alone."""
    stack = Stack(pg)
    yield stack
    stack.close()


@pytest.fixture
def both(request: pytest.FixtureRequest, pg: PostgresProbe) -> Iterator[Stack]:
    """Caches over Redis and Postgres (the same Postgres data as ``durable``)."""
    stack = Stack(RedisProbe(request), pg)
    yield stack
    stack.close()


class TestUnderRedis:
    """Postgres below Redis: a durable hit is promoted through both."""

    def test_durable_to_shared_to_local(self, durable: Stack, both: Stack) -> None:
        """Found in Postgres only: copied into Redis (TierTTLs.shared) and local
        (TierTTLs.local); the next read is a local hit."""
        durable.cache().set("k", {"n": 1}, ttl=Expires.NEVER)
        reader = both.cache(promotion=TierTTLs(local=2, shared=20))
        assert [{"n": 1}, {"n": 1}] == [reader.get("k"), reader.get("k")]
        left = both.seconds_left(reader, "k")
        assert [2, 20, math.inf] == whole(left)
        stats = reader.stats()
        assert (1, 0, 1) == (stats.durable_hits, stats.shared_hits, stats.local_hits)
        assert 2 == stats.promotions  # into shared and into local

    def test_hot_entry_with_redis_reads_postgres_once(
        self, durable: Stack, both: Stack, pg: PostgresProbe
    ) -> None:
        """With Redis in between, expired local copies refill from Redis: one
        Postgres read per TierTTLs.shared (the clock is advanced, not slept)."""
        durable.cache().set("hot", "value", ttl=Expires.NEVER)
        cache = both.cache(promotion=TierTTLs(local=0.2, shared=60))
        before = pg.reads()
        values: set[Any] = set()
        for _ in range(5):
            values.update(cache.get("hot") for _ in range(10))
            both.clock.advance(0.3)
        stats = cache.stats()
        assert {"value"} == values
        assert (1, 1, 4, 45) == (
            pg.reads() - before,
            stats.durable_hits,
            stats.shared_hits,
            stats.local_hits,
        )


class TestNegatives:
    """Postgres keeps a cached None as an ``is_none`` row, unless signed."""

    def test_none_is_an_is_none_row(self, durable: Stack, pg: PostgresProbe) -> None:
        """Without a secret a cached None is stored natively: an ``is_none``
        row (expiring after ``negative_ttl``: the contract checks it)."""
        cache = durable.cache()
        assert cache.get_or_load("user:404", lambda: None, **NEGATIVE) is None
        assert True is pg.is_none("user:404")

    def test_negative_promoted_from_postgres_is_readable_in_redis(
        self, durable: Stack, both: Stack, pg: PostgresProbe
    ) -> None:
        """A negative found only in Postgres is promoted into Redis in a form
        Redis readers accept: no decode error, no second Postgres read."""
        durable.cache().get_or_load("gone:1", lambda: None, ttl=Expires.NEVER)
        first = both.cache()
        assert first.get("gone:1", "default") is None  # promoted into Redis
        assert 1 == first.stats().durable_hits
        before = pg.reads()
        second = both.cache()
        assert second.get("gone:1", "default") is None
        stats = second.stats()
        assert (0, 1, 0) == (
            stats.decode_errors,
            stats.shared_hits,
            pg.reads() - before,
        )

    def test_planted_negatives_are_refused_with_a_secret(
        self, both: Stack, pg: PostgresProbe
    ) -> None:
        """With ``secret=`` an ``is_none`` row and bytes carrying the
        trusted-negative flags are decode errors: the loader runs, and nothing
        reaches Redis signed."""
        with pg.admin.cursor() as cur:
            cur.execute(
                f"INSERT INTO {pg.table} (key, is_none) VALUES ('planted:row', true)"  # noqa: S608
            )
        pg.plant("planted:flags", trusted_negative(None, ()))
        cache = both.cache(secret=SECRET)
        assert "real" == cache.get_or_load("planted:row", lambda: "real")
        assert "miss" == cache.get("planted:flags", "miss")
        stats = cache.stats()
        assert (2, 0, 1) == (stats.decode_errors, stats.durable_hits, stats.loads)
        assert None is both.seconds_left(cache, "planted:flags")[1]
        redis_only = Stack(both.probes[0])
        try:
            assert "miss" == redis_only.cache(secret=SECRET).get(
                "planted:flags", "miss"
            )
        finally:
            redis_only.close()

    def test_signed_negative_round_trips(
        self, durable: Stack, pg: PostgresProbe
    ) -> None:
        """A None cached with a secret is stored as its signed envelope (not
        ``is_none``) and read back by another cache without running its loader."""
        writer = durable.cache(secret=SECRET)
        assert writer.get_or_load("gone", lambda: None, **NEGATIVE) is None
        assert False is pg.is_none("gone")
        reader = durable.cache(secret=SECRET)
        assert reader.get_or_load("gone", lambda: "ran", **NEGATIVE) is None
        stats = reader.stats()
        assert (1, 0, 0) == (stats.durable_hits, stats.loads, stats.decode_errors)


@pytest.mark.fault
def test_postgres_stopped_under_eight_threads() -> None:
    """A private Postgres stopped while 8 threads call get_or_load: callers
    never see it, all get the loader's value, tier errors are counted, and
    after a restart Postgres serves hits again."""
    server = PrivatePostgres()
    try:
        server.create()
        server.start()
        server.execute(migration_sql())
        store = PostgresStore(
            server.dsn, max_connections=8, connect_timeout=2, statement_timeout_ms=1000
        )
        cache = HydraCache(
            durable=store, promotion=TierTTLs(local=0.05), breaker_cooldown=0.2
        )

        def outage() -> None:
            time.sleep(0.4)
            server.stop()
            time.sleep(0.6)
            server.start()
            time.sleep(0.3)

        # Local copies live 50 ms: once back, reads reach Postgres.
        assert_outage_is_hidden(
            cache,
            outage,
            lambda: cache.stats().durable_hits,
            ttl=60,
            cost=Cost.EXPENSIVE,
        )
        assert store.get("k0") is not None
        cache.close()
    finally:
        server.destroy()


@pytest.mark.fault
@pytest.mark.timeout(120)
def test_frozen_postgres_opens_the_breaker_within_the_deadline() -> None:
    """Every Postgres process SIGSTOPped under 8 threads of get_or_load: each
    call returns within call_timeout + 1.5 s (not for as long as the server
    hangs), with the loader's value; tier errors are counted and the breaker
    opens, so later calls skip Postgres at once."""
    server = PrivatePostgres()
    try:
        server.create()
        server.start()
        server.execute(migration_sql())
        store = PostgresStore(
            server.dsn,
            max_connections=8,
            min_connections=8,
            connect_timeout=2,
            statement_timeout_ms=1000,
            call_timeout=2.0,
        )
        cache = HydraCache(durable=store, breaker_cooldown=60)
        durations: list[float] = []
        values: list[int] = []
        lock = threading.Lock()
        barrier = threading.Barrier(8)

        def worker(n: int) -> None:
            barrier.wait()
            started = time.monotonic()
            value = cache.get_or_load(f"k{n}", lambda: n, cost=Cost.EXPENSIVE)
            with lock:
                durations.append(time.monotonic() - started)
                values.append(value)

        with server.frozen():
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert list(range(8)) == sorted(values)
            assert max(durations) < 3.5, durations
            assert cache.stats().tier_errors >= 1
            started = time.monotonic()
            assert "miss" == cache.get("other", "miss")
            assert time.monotonic() - started < 0.5  # the breaker is open
        cache.close()
    finally:
        server.destroy()
