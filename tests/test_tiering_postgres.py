"""HydraCache over a real PostgresStore (and Redis when present): placement,
restarts, promotion, invalidation, negative caching and a server stopped mid-run.

The tier-level behaviour of ``PostgresStore`` lives in
``tests/tiers/test_postgres*.py``; here the cache core drives it. Where an entry
went is observed directly: the local tier through ``cache.local_store``, Redis
through the store (its key's PTTL), Postgres through its table.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hydracache_sync import (
    Cost,
    Expires,
    HydraCache,
    Tier,
    TierTTLs,
)

psycopg2 = pytest.importorskip("psycopg2")

from tiers.test_postgres_fault import PrivatePostgres  # noqa: E402

from hydracache_sync import PostgresStore  # noqa: E402
from hydracache_sync.tiers.postgres import migration_sql  # noqa: E402

pytestmark = pytest.mark.postgres

METACHARACTER_KEYS = [
    "deal:50%_off:1",
    "deal:50%_off:2",
    "deal:50X_off:1",
    "deal:50%Xoff:1",
    "deal:a\\b:1",
    "deal:a[b]?:1",
]


class CountingPostgresStore(PostgresStore):
    """A PostgresStore that counts the reads reaching Postgres."""

    reads = 0

    def get(self, key: str) -> bytes | None:
        """Count, then read."""
        self.reads += 1
        return super().get(key)

    def get_many(self, keys: Any) -> list[bytes | None]:
        """Count, then read."""
        self.reads += 1
        return super().get_many(keys)


@pytest.fixture
def make_durable(
    postgres_dsn: str, postgres_schema: str
) -> Iterator[Callable[[], CountingPostgresStore]]:
    """Build stores on the test's schema (all closed afterwards)."""
    stores: list[PostgresStore] = []

    def make() -> CountingPostgresStore:
        store = CountingPostgresStore(postgres_dsn, schema=postgres_schema)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def make_shared(redis_url: str, redis_prefix: str) -> Iterator[Callable[[], Any]]:
    """Build RedisStores on the test's prefix (skips without the Redis tier)."""
    module = pytest.importorskip("hydracache_sync.tiers.redis")
    stores: list[Any] = []

    def make() -> Any:
        store = module.RedisStore.from_url(redis_url, prefix=redis_prefix)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def caches() -> Iterator[list[HydraCache]]:
    """Caches to close after the test (stops listener threads, closes tiers)."""
    made: list[HydraCache] = []
    yield made
    for cache in made:
        cache.close()


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    """An autocommit connection for looking at the table."""
    conn = psycopg2.connect(postgres_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


def pg_row(admin: Any, schema: str, key: str) -> tuple[float | None, bool] | None:
    """``(seconds left or None, is_none)`` of ``key``'s row, None when absent."""
    with admin.cursor() as cur:
        table = f'"{schema}".hydracache'
        cur.execute(
            "SELECT extract(epoch FROM expires_at - now())::float8, is_none"  # noqa: S608
            f" FROM {table} WHERE key = %s",
            (key,),
        )
        row = cur.fetchone()
    return None if row is None else (row[0], row[1])


def local_ttl(cache: HydraCache, key: str) -> float | None:
    """Seconds left on ``key``'s local copy; None when there is no copy."""
    entry = cache.local_store.lookup(key)
    if entry is None:
        return None
    return float(entry.expires_at - cache.local_store.timer())


def redis_ttl(store: Any, key: str) -> float | None:
    """Seconds left on ``key`` in Redis (None absent, inf no expiry)."""
    pttl = int(store.client.pttl(store.value_key(key)))
    if pttl == -2:
        return None
    return float("inf") if pttl == -1 else pttl / 1000


def wait_listening(cache: HydraCache) -> HydraCache:
    """Wait until the cache's invalidation listener (Redis) is subscribed."""
    deadline = time.monotonic() + 5
    while getattr(cache, "listening", True) is False and time.monotonic() < deadline:
        time.sleep(0.01)
    return cache


class TestPlacement:
    """Which tier is the base, per cost and expiry, and the bounded copies above."""

    @pytest.mark.parametrize(
        ("cost", "ttl", "base"),
        [
            (Cost.CHEAP, 100, Tier.LOCAL),
            (Cost.MODERATE, 100, Tier.SHARED),
            (Cost.EXPENSIVE, 100, Tier.DURABLE),
            (Cost.CHEAP, Expires.NEVER, Tier.DURABLE),
            (Cost.MODERATE, Expires.NEVER, Tier.DURABLE),
        ],
    )
    def test_three_tiers(
        self,
        make_durable: Any,
        make_shared: Any,
        caches: list[HydraCache],
        admin: Any,
        postgres_schema: str,
        cost: Cost,
        ttl: Any,
        base: Tier,
    ) -> None:
        """The base tier keeps the full TTL; faster tiers get bounded copies;
        slower tiers get nothing."""
        shared = make_shared()
        cache = wait_listening(
            HydraCache(
                shared=shared,
                durable=make_durable(),
                promotion=TierTTLs(local=5, shared=50),
            )
        )
        caches.append(cache)
        never = ttl is Expires.NEVER
        assert base == cache.base_tier(cost, never=never)
        cache.set("k", {"v": 1}, ttl=ttl, cost=cost)
        row = pg_row(admin, postgres_schema, "k")
        in_redis = redis_ttl(shared, "k")
        in_local = local_ttl(cache, "k")
        assert in_local is not None
        if base is Tier.LOCAL:
            assert (None, None) == (row, in_redis)
            assert 99 < in_local <= 100
        elif base is Tier.SHARED:
            assert row is None
            assert in_redis is not None
            assert 99 < in_redis <= 100
            assert 4 < in_local <= 5
        else:
            assert row is not None
            if never:
                assert (None, False) == row
            else:
                assert row[0] is not None
                assert 99 < row[0] <= 100
            assert in_redis is not None
            assert 49 < in_redis <= 50
            assert 4 < in_local <= 5

    @pytest.mark.parametrize(
        ("cost", "base"),
        [
            (Cost.CHEAP, Tier.LOCAL),
            (Cost.MODERATE, Tier.LOCAL),  # no shared tier: local
            (Cost.EXPENSIVE, Tier.DURABLE),
        ],
    )
    def test_durable_without_redis(
        self,
        make_durable: Any,
        caches: list[HydraCache],
        admin: Any,
        postgres_schema: str,
        cost: Cost,
        base: Tier,
    ) -> None:
        """Without Redis: MODERATE falls back to local, EXPENSIVE is durable."""
        cache = HydraCache(durable=make_durable(), promotion=TierTTLs(local=5))
        caches.append(cache)
        assert base == cache.base_tier(cost)
        cache.set("k", "v", ttl=100, cost=cost)
        row = pg_row(admin, postgres_schema, "k")
        in_local = local_ttl(cache, "k")
        assert in_local is not None
        if base is Tier.LOCAL:
            assert row is None
            assert 99 < in_local <= 100
        else:
            assert row is not None
            assert row[0] is not None
            assert 99 < row[0] <= 100
            assert 4 < in_local <= 5


class TestRestart:
    """Postgres keeps what must survive the process."""

    def test_never_expiring_value_survives_a_new_cache(
        self, make_durable: Any, caches: list[HydraCache]
    ) -> None:
        """Written with Expires.NEVER, read back by a brand-new cache after the
        first one was closed; CHEAP-with-a-ttl entries did not survive."""
        first = HydraCache(durable=make_durable())
        first.set("config", {"feature": True, "limit": 3}, ttl=Expires.NEVER)
        first.set("scratch", "local only", ttl=60, cost=Cost.CHEAP)
        first.set("report", [1, 2, 3], ttl=60, cost=Cost.EXPENSIVE)
        first.close()
        second = HydraCache(durable=make_durable())
        caches.append(second)
        assert {"feature": True, "limit": 3} == second.get("config")
        assert [1, 2, 3] == second.get("report")
        assert "gone" == second.get("scratch", "gone")
        stats = second.stats()
        assert (2, 1) == (stats.durable_hits, stats.misses)


class TestPromotion:
    """A durable hit is promoted into shared and local with bounded TTLs."""

    def test_durable_to_shared_to_local(
        self, make_durable: Any, make_shared: Any, caches: list[HydraCache]
    ) -> None:
        """Found in Postgres only: copied into Redis (<= TierTTLs.shared) and
        local (<= TierTTLs.local); the next read is a local hit."""
        writer = HydraCache(durable=make_durable())
        caches.append(writer)
        writer.set("k", {"n": 1}, ttl=Expires.NEVER)
        shared = make_shared()
        reader = wait_listening(
            HydraCache(
                shared=shared,
                durable=make_durable(),
                promotion=TierTTLs(local=2, shared=20),
            )
        )
        caches.append(reader)
        assert {"n": 1} == reader.get("k")
        in_redis, in_local = redis_ttl(shared, "k"), local_ttl(reader, "k")
        assert in_redis is not None
        assert in_local is not None
        assert 19 < in_redis <= 20
        assert 1.5 < in_local <= 2
        assert {"n": 1} == reader.get("k")
        stats = reader.stats()
        assert (1, 0, 1) == (stats.durable_hits, stats.shared_hits, stats.local_hits)
        assert 2 == stats.promotions  # into shared and into local

    def test_bounded_by_the_remaining_ttl(
        self, make_durable: Any, caches: list[HydraCache]
    ) -> None:
        """An entry about to expire in Postgres is promoted only for what is left."""
        writer = HydraCache(durable=make_durable())
        caches.append(writer)
        writer.set("k", "v", ttl=0.6, cost=Cost.EXPENSIVE)
        reader = HydraCache(durable=make_durable(), promotion=TierTTLs(local=60))
        caches.append(reader)
        assert "v" == reader.get("k")
        in_local = local_ttl(reader, "k")
        assert in_local is not None
        assert 0 < in_local <= 0.6
        time.sleep(0.7)
        assert "miss" == reader.get("k", "miss")

    def test_hot_entry_costs_one_read_per_promotion_ttl(
        self, make_durable: Any, caches: list[HydraCache]
    ) -> None:
        """Thousands of reads of one durable entry in ~1 s reach Postgres about
        once per TierTTLs.local, not once per call."""
        store = make_durable()
        cache = HydraCache(durable=store, promotion=TierTTLs(local=0.25))
        caches.append(cache)
        cache.set("hot", "value", ttl=Expires.NEVER)
        store.reads = 0
        calls = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            assert "value" == cache.get("hot")
            calls += 1
        assert calls > 1000
        assert 1 <= store.reads <= 6, store.reads  # ceil(1.0 / 0.25) + slack
        assert store.reads == cache.stats().durable_hits

    def test_hot_entry_with_redis_reads_postgres_once(
        self, make_durable: Any, make_shared: Any, caches: list[HydraCache]
    ) -> None:
        """With Redis in between, expired local copies refill from Redis: one
        Postgres read per TierTTLs.shared."""
        writer = HydraCache(durable=make_durable())
        caches.append(writer)
        writer.set("hot", "value", ttl=Expires.NEVER)
        store = make_durable()
        cache = wait_listening(
            HydraCache(
                shared=make_shared(),
                durable=store,
                promotion=TierTTLs(local=0.2, shared=60),
            )
        )
        caches.append(cache)
        deadline = time.monotonic() + 0.9
        while time.monotonic() < deadline:
            assert "value" == cache.get("hot")
        stats = cache.stats()
        assert 1 == store.reads
        assert 1 == stats.durable_hits
        assert stats.shared_hits >= 2


class TestInvalidation:
    """Tags and wildcards remove entries from every tier."""

    @pytest.fixture
    def tiers(
        self, make_durable: Any, make_shared: Any, caches: list[HydraCache]
    ) -> tuple[HydraCache, Any, PostgresStore]:
        """A three-tier cache, its Redis store and its Postgres store."""
        shared, durable = make_shared(), make_durable()
        cache = wait_listening(HydraCache(shared=shared, durable=durable))
        caches.append(cache)
        return cache, shared, durable

    def test_tag_reaches_every_tier(
        self, tiers: tuple[HydraCache, Any, PostgresStore], make_durable: Any
    ) -> None:
        """Only entries carrying the tag go, from local, Redis and Postgres."""
        cache, shared, durable = tiers
        cache.set("u:1", 1, ttl=60, tags=["users", "user:1"], cost=Cost.EXPENSIVE)
        cache.set("u:2", 2, ttl=Expires.NEVER, tags=["users"])
        cache.set("t:1", 3, ttl=60, tags=["teams"], cost=Cost.EXPENSIVE)
        assert 2 == cache.invalidate_tag("users")
        assert [None, None] == durable.get_many(["u:1", "u:2"])
        assert [None, None] == shared.get_many(["u:1", "u:2"])
        assert [None, None] == [local_ttl(cache, "u:1"), local_ttl(cache, "u:2")]
        assert ["gone", "gone", 3] == [
            cache.get("u:1", "gone"),
            cache.get("u:2", "gone"),
            cache.get("t:1", "gone"),
        ]
        fresh = HydraCache(durable=make_durable())
        try:
            assert ["gone", 3] == [fresh.get("u:2", "gone"), fresh.get("t:1")]
        finally:
            fresh.close()

    def test_wildcard_with_metacharacters_is_literal(
        self, tiers: tuple[HydraCache, Any, PostgresStore]
    ) -> None:
        """``%``, ``_``, ``\\``, ``[``, ``]`` and ``?`` in a pattern are literal
        in every tier; ``*`` alone is the wildcard."""
        cache, shared, durable = tiers
        for key in METACHARACTER_KEYS:
            cache.set(key, key, ttl=Expires.NEVER)
        assert 2 == cache.invalidate("deal:50%_off:*")
        assert 1 == cache.invalidate("deal:a\\b:*")
        assert 1 == cache.invalidate("deal:a[b]?:1")
        assert 0 == cache.invalidate("deal:50_*")
        survivors = ["deal:50X_off:1", "deal:50%Xoff:1"]
        gone = [k for k in METACHARACTER_KEYS if k not in survivors]
        for store in (durable, shared):
            assert [None] * 4 == store.get_many(gone)
            assert all(data is not None for data in store.get_many(survivors))
        assert survivors == [cache.get(key) for key in survivors]
        assert ["gone"] * 4 == [cache.get(key, "gone") for key in gone]

    def test_delete_and_clear_reach_postgres(
        self, tiers: tuple[HydraCache, Any, PostgresStore]
    ) -> None:
        """delete() and clear() remove the Postgres rows too."""
        cache, _, durable = tiers
        cache.set("a", 1, ttl=Expires.NEVER)
        cache.set("b", 2, ttl=Expires.NEVER)
        assert cache.delete("a") is True
        assert durable.get("a") is None
        cache.clear()
        assert [None, None] == durable.get_many(["a", "b"])


class TestNegativeCaching:
    """A loader returning None is cached in Postgres natively."""

    def test_none_is_cached_and_not_reloaded(
        self,
        make_durable: Any,
        caches: list[HydraCache],
        admin: Any,
        postgres_schema: str,
    ) -> None:
        """The loader runs once; the row is is_none; a new cache reads the
        negative from Postgres without running its loader."""
        calls: list[str] = []

        def loader() -> None:
            calls.append("ran")

        first = HydraCache(durable=make_durable())
        caches.append(first)
        kwargs: dict[str, Any] = {"cost": Cost.EXPENSIVE, "negative_ttl": 60}
        assert first.get_or_load("user:404", loader, ttl=600, **kwargs) is None
        assert first.get_or_load("user:404", loader, ttl=600, **kwargs) is None
        assert ["ran"] == calls
        row = pg_row(admin, postgres_schema, "user:404")
        assert row is not None
        assert row[1] is True
        assert row[0] is not None
        assert 58 < row[0] <= 60  # negative_ttl, not the entry ttl
        second = HydraCache(durable=make_durable())
        caches.append(second)
        assert second.get_or_load("user:404", loader, ttl=600, **kwargs) is None
        assert ["ran"] == calls
        stats = second.stats()
        assert (1, 0, 0) == (stats.durable_hits, stats.loads, stats.decode_errors)

    def test_negative_promoted_from_postgres_is_readable_in_redis(
        self,
        make_durable: Any,
        make_shared: Any,
        caches: list[HydraCache],
    ) -> None:
        """A negative found only in Postgres is promoted into Redis in a form
        Redis readers accept: no decode error, no second Postgres read."""
        writer = HydraCache(durable=make_durable())
        caches.append(writer)
        writer.get_or_load("gone:1", lambda: None, ttl=Expires.NEVER)
        shared = make_shared()
        first = wait_listening(HydraCache(shared=shared, durable=make_durable()))
        caches.append(first)
        assert first.get("gone:1", "default") is None  # promoted into Redis
        assert 1 == first.stats().durable_hits
        store = make_durable()
        second = wait_listening(HydraCache(shared=make_shared(), durable=store))
        caches.append(second)
        assert second.get("gone:1", "default") is None
        stats = second.stats()
        assert (0, 1, 0) == (stats.decode_errors, stats.shared_hits, store.reads)


SECRET = "a-secret-of-at-least-16-bytes"


class TestSecretCoversPostgres:
    """With ``secret=`` no stored form in Postgres bypasses the MAC."""

    def plant(self, admin: Any, schema: str, key: str, value: Any) -> None:
        """Write a row by hand, as someone with table access but no secret."""
        import psycopg2.sql

        with admin.cursor() as cur:
            cur.execute(
                psycopg2.sql.SQL(
                    "INSERT INTO {}.hydracache (key, value, is_none)"
                    " VALUES (%s, %s, %s)"
                ).format(psycopg2.sql.Identifier(schema)),
                (key, value, value is None),
            )

    def test_planted_negatives_are_refused_and_never_promoted(
        self,
        make_durable: Any,
        make_shared: Any,
        caches: list[HydraCache],
        admin: Any,
        postgres_schema: str,
    ) -> None:
        """An ``is_none`` row and bytes carrying the trusted-negative flags are
        decode errors: the loader runs, and nothing reaches Redis signed."""
        from hydracache_sync._envelope import trusted_negative

        self.plant(admin, postgres_schema, "planted:row", None)
        forged = psycopg2.Binary(trusted_negative(None, ()))
        self.plant(admin, postgres_schema, "planted:flags", forged)
        shared = make_shared()
        cache = HydraCache(shared=shared, durable=make_durable(), secret=SECRET)
        caches.append(cache)
        loaded = [cache.get_or_load(k, lambda: "real") for k in ("planted:row",)]
        assert ["real"] == loaded
        assert "miss" == cache.get("planted:flags", "miss")
        stats = cache.stats()
        assert (2, 0, 1) == (stats.decode_errors, stats.durable_hits, stats.loads)
        assert shared.get("planted:flags") is None
        redis_only = HydraCache(shared=make_shared(), secret=SECRET)
        caches.append(redis_only)
        assert "miss" == redis_only.get("planted:flags", "miss")

    def test_signed_negative_round_trips(
        self,
        make_durable: Any,
        caches: list[HydraCache],
        admin: Any,
        postgres_schema: str,
    ) -> None:
        """A None cached with a secret is stored as its signed envelope (not
        ``is_none``) and read back by another cache without running its loader."""
        writer = HydraCache(durable=make_durable(), secret=SECRET)
        caches.append(writer)
        kwargs: dict[str, Any] = {"cost": Cost.EXPENSIVE, "negative_ttl": 60}
        assert writer.get_or_load("gone", lambda: None, ttl=600, **kwargs) is None
        row = pg_row(admin, postgres_schema, "gone")
        assert row is not None
        assert row[1] is False
        reader = HydraCache(durable=make_durable(), secret=SECRET)
        caches.append(reader)
        assert reader.get_or_load("gone", lambda: "ran", ttl=600, **kwargs) is None
        stats = reader.stats()
        assert (1, 0, 0) == (stats.durable_hits, stats.loads, stats.decode_errors)


def test_bad_keys_and_tags_never_reach_the_tiers(
    make_durable: Any, make_shared: Any, caches: list[HydraCache]
) -> None:
    """Keys and tags over PostgreSQL's index row limit, with NUL or a lone
    surrogate are InvalidKey in degrade mode: no raw driver error, no tier
    error, and the Postgres breaker stays closed for every other caller."""
    from hydracache_sync import InvalidKey

    cache = wait_listening(HydraCache(shared=make_shared(), durable=make_durable()))
    caches.append(cache)
    expensive: dict[str, Any] = {"cost": Cost.EXPENSIVE}
    for bad in ("t" * 3000, "\u00e9" * 2048, "nul\x00", "lone\udc80"):
        with pytest.raises(InvalidKey):
            cache.set(bad, 1, **expensive)
        with pytest.raises(InvalidKey):
            cache.set("k", 1, tags=[bad], **expensive)
        with pytest.raises(InvalidKey):
            cache.delete(bad)
        with pytest.raises(InvalidKey):
            cache.invalidate_tag(bad)
        with pytest.raises(InvalidKey):
            cache.get(bad)
    cache.set("ok", "v", tags=["t" * 2000], **expensive)
    assert 0 == cache.stats().tier_errors
    reader = HydraCache(durable=make_durable())
    caches.append(reader)
    assert "v" == reader.get("ok")
    assert (1, 0) == (reader.stats().durable_hits, reader.stats().tier_errors)


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
                    value = cache.get_or_load(
                        key,
                        functools.partial(value_of, key),
                        ttl=60,
                        cost=Cost.EXPENSIVE,
                    )
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
            time.sleep(0.4)
            server.stop()
            time.sleep(0.6)
            down = cache.stats()
            server.start()
            time.sleep(0.3)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        assert [] == errors
        assert [] == wrong
        assert all(calls), calls
        assert 0 < cache.stats().tier_errors
        # Service resumes: with local copies living 50 ms, reads reach Postgres.
        deadline = time.monotonic() + 8
        while cache.stats().durable_hits <= down.durable_hits:
            assert time.monotonic() < deadline, "Postgres never served again"
            for key in keys:
                assert value_of(key) == cache.get_or_load(
                    key, functools.partial(value_of, key), ttl=60, cost=Cost.EXPENSIVE
                )
            time.sleep(0.06)
        assert store.get("k0") is not None
        cache.close()
    finally:
        server.destroy()


class TestUntrustedRows:
    def test_corrupt_and_pickled_rows_are_a_counted_miss(
        self,
        make_durable: Any,
        caches: list[HydraCache],
        admin: Any,
        postgres_schema: str,
        tmp_path: Any,
    ) -> None:
        """Garbage or a pickle written into the table is a miss; no code runs."""
        import os
        import pickle

        import psycopg2.sql

        marker = os.path.join(str(tmp_path), "pwned")

        class Exploit:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return (os.mkdir, (marker,))

        rows = {
            "garbage": b"\x00\x01not an envelope",
            "pickled": pickle.dumps(Exploit()),
            "truncated": b"\xc8\x01",
        }
        with admin.cursor() as cur:
            for key, value in rows.items():
                cur.execute(
                    psycopg2.sql.SQL(
                        "INSERT INTO {}.hydracache (key, value, is_none)"
                        " VALUES (%s, %s, false)"
                    ).format(psycopg2.sql.Identifier(postgres_schema)),
                    (key, psycopg2.Binary(value)),
                )
        cache = HydraCache(durable=make_durable())
        caches.append(cache)
        assert ["miss"] * 3 == [cache.get(key, "miss") for key in rows]
        assert not os.path.exists(marker)
        assert (3, 0) == (cache.stats().decode_errors, cache.stats().durable_hits)
        assert "fresh" == cache.get_or_load("garbage", lambda: "fresh")


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
