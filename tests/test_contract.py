"""HydraCache's contract suites run over every tier stack, on real servers.

The stacks: memory; memory+Redis; memory+Postgres; all three. The suites live
in ``hydracache_sync.testing`` (``CacheContract``, ``SharedCacheContract``); the
probes here look inside Redis (its keys' PTTL) and Postgres (its table), plant
raw bytes there, and count the reads reaching each.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from hydracache_sync import Tier
from hydracache_sync.testing import CacheContract, SharedCacheContract, Stack, TierProbe


def _counting(cls: Any) -> Any:
    """A subclass of the store class ``cls`` counting its read calls."""

    class Counting(cls):  # type: ignore[misc,valid-type]
        read_calls = 0

        def get(self, key: str) -> Any:
            self.read_calls += 1
            return super().get(key)

        def get_many(self, keys: Any) -> Any:
            self.read_calls += 1
            return super().get_many(keys)

    return Counting


class RedisProbe(TierProbe):
    """Redis on the test's prefix: PTTL, raw SET, read counts."""

    role = Tier.SHARED

    def __init__(self, request: pytest.FixtureRequest) -> None:
        from hydracache_sync import RedisStore

        self.url = request.getfixturevalue("redis_url")
        self.prefix = request.getfixturevalue("redis_prefix")
        self.client = request.getfixturevalue("redis_client")
        self.cls = _counting(RedisStore)
        self.stores: list[Any] = []
        self.layout = self.store()

    def store(self) -> Any:
        """A counting RedisStore on the prefix."""
        store = self.cls.from_url(self.url, prefix=self.prefix)
        self.stores.append(store)
        return store

    def seconds_left(self, key: str) -> float | None:
        """From the value key's PTTL (-2 absent, -1 no expiry)."""
        pttl = int(self.client.pttl(self.layout.value_key(key)))
        return None if pttl == -2 else math.inf if pttl == -1 else pttl / 1000

    def plant(self, key: str, data: bytes) -> None:
        """SET the bytes under the value key."""
        self.client.set(self.layout.value_key(key), data)

    def reads(self) -> int:
        """Read calls over every store made."""
        return sum(store.read_calls for store in self.stores)


class PostgresProbe(TierProbe):
    """Postgres on the test's schema: the row's expiry, raw INSERT, read counts."""

    role = Tier.DURABLE

    def __init__(self, request: pytest.FixtureRequest) -> None:
        import psycopg2

        from hydracache_sync import PostgresStore

        self.dsn = request.getfixturevalue("postgres_dsn")
        self.schema = request.getfixturevalue("postgres_schema")
        self.cls = _counting(PostgresStore)
        self.stores: list[Any] = []
        self.admin = psycopg2.connect(self.dsn)
        self.admin.autocommit = True
        self.table = f'"{self.schema}".hydracache'
        request.addfinalizer(self.admin.close)

    def store(self) -> Any:
        """A counting PostgresStore on the schema."""
        store = self.cls(self.dsn, schema=self.schema)
        self.stores.append(store)
        return store

    def seconds_left(self, key: str) -> float | None:
        """From the row's ``expires_at`` (NULL: no expiry)."""
        with self.admin.cursor() as cur:
            cur.execute(
                "SELECT extract(epoch FROM expires_at - now())::float8"  # noqa: S608
                f" FROM {self.table} WHERE key = %s",
                (key,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return math.inf if row[0] is None else float(row[0])

    def is_none(self, key: str) -> bool | None:
        """The row's ``is_none`` flag (None: no row)."""
        with self.admin.cursor() as cur:
            cur.execute(f"SELECT is_none FROM {self.table} WHERE key = %s", (key,))  # noqa: S608
            row = cur.fetchone()
        return None if row is None else bool(row[0])

    def plant(self, key: str, data: bytes) -> None:
        """INSERT the bytes as a row, as someone with table access would."""
        import psycopg2

        with self.admin.cursor() as cur:
            cur.execute(
                f"INSERT INTO {self.table} (key, value, is_none)"  # noqa: S608
                " VALUES (%s, %s, false)",
                (key, psycopg2.Binary(data)),
            )

    def reads(self) -> int:
        """Read calls over every store made."""
        return sum(store.read_calls for store in self.stores)


PROBES: dict[str, tuple[type[TierProbe], ...]] = {
    "memory": (),
    "redis": (RedisProbe,),
    "postgres": (PostgresProbe,),
    "all": (RedisProbe, PostgresProbe),
}
MARKS = {RedisProbe: pytest.mark.redis, PostgresProbe: pytest.mark.postgres}


def _stacks(*names: str) -> list[Any]:
    return [
        pytest.param(name, marks=[MARKS[p] for p in PROBES[name]], id=name)
        for name in names
    ]


def _stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack = Stack(*(probe(request) for probe in PROBES[request.param]))
    yield stack
    stack.close()


class TestEveryStack(CacheContract):
    """The cache contract over memory, memory+Redis, memory+Postgres, all three."""

    @pytest.fixture(params=_stacks("memory", "redis", "postgres", "all"))
    def stack(self, request: pytest.FixtureRequest) -> Iterator[Stack]:
        """A stack, its caches closed afterwards."""
        yield from _stack(request)


class TestSharedStacks(SharedCacheContract):
    """The sharing contract over every stack with a remote tier."""

    @pytest.fixture(params=_stacks("redis", "postgres", "all"))
    def stack(self, request: pytest.FixtureRequest) -> Iterator[Stack]:
        """A stack, its caches closed afterwards."""
        yield from _stack(request)
