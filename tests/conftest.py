"""Shared fixtures: real Redis and Postgres, isolated per test, skipped or failed.

``HYDRACACHE_REDIS_URL`` / ``HYDRACACHE_POSTGRES_DSN`` name the servers
(default: the local services). An unreachable server skips its tests with the
reason, unless ``HYDRACACHE_REQUIRE_SERVICES=1`` (set by ``.ci/run``), which
turns the skip into a failure.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

REDIS_URL = os.environ.get("HYDRACACHE_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get(
    "HYDRACACHE_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)
REQUIRE = os.environ.get("HYDRACACHE_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when services are required."""
    if REQUIRE:
        pytest.fail(f"{reason} (HYDRACACHE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a reachable Redis server."""
    if REQUIRE:
        import redis
    else:
        redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL} is unreachable: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A redis-py client on the test server (closed afterwards)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted afterwards."""
    prefix = f"hctest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The DSN of a reachable PostgreSQL server."""
    if REQUIRE:
        import psycopg2
    else:
        psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = psycopg2.connect(POSTGRES_DSN, connect_timeout=3)
    except psycopg2.Error as exc:
        unavailable(f"PostgreSQL at {POSTGRES_DSN!r} is unreachable: {exc}")
    conn.close()
    return POSTGRES_DSN


@pytest.fixture
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema holding the shipped migration; dropped afterwards."""
    import psycopg2

    from hydracache_sync.tiers.postgres import migration_sql

    schema = f"hctest_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(postgres_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(migration_sql(schema=schema, table="hydracache"))
    try:
        yield schema
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def value_of(key: str) -> str:
    """The value a test loader returns for ``key``."""
    return f"value-of-{key}"


def assert_outage_is_hidden(
    cache: Any, outage: Callable[[], None], served: Callable[[], int], **options: Any
) -> None:
    """Eight threads call ``get_or_load`` on 16 keys while ``outage()`` takes a
    tier down and back: no caller sees an error or a wrong value, tier errors
    are counted, and afterwards the tier serves again (``served()`` grows; the
    cache's local copies must be short-lived)."""
    keys = [f"k{i}" for i in range(16)]
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
                value = cache.get_or_load(key, partial(value_of, key), **options)
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
        outage()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert ([], []) == (errors, wrong)
    assert all(calls), calls
    assert 0 < cache.stats().tier_errors
    before = served()
    deadline = time.monotonic() + 8
    while served() <= before:
        assert time.monotonic() < deadline, "the tier never served again"
        for key in keys:
            assert value_of(key) == cache.get_or_load(
                key, partial(value_of, key), **options
            )
        time.sleep(0.06)
