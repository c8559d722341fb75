"""Server sandboxes for the tier scenarios: targets, reachability, cleanup.

Each tier report runs against a live server, in a sandbox it removes at the
end: a unique Redis key prefix (every key under it is unlinked) and a unique
Postgres schema (created with the shipped migration, then dropped). The
drivers are reached through the stores (``RedisStore.client``) or imported
inside functions (the raw-driver baselines), so importing this module needs
neither.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from .harness import Settings

__all__ = [
    "BATCH_KEYS",
    "GONE",
    "TIER_KEYS",
    "TIER_NAMES",
    "TIER_OPS",
    "PostgresSandbox",
    "RedisSandbox",
    "close_all",
    "closing",
    "first_line",
    "hits_note",
    "postgres_unreachable",
    "redis_unreachable",
    "resolve_postgres_dsn",
    "resolve_redis_url",
    "tier_settings",
    "wait_listening",
]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
ENV_REDIS_URL = "HYDRACACHE_REDIS_URL"
ENV_POSTGRES_DSN = "HYDRACACHE_POSTGRES_DSN"

TIER_OPS = 10  # single-key remote reads inlined per body call
BATCH_KEYS = 100  # keys per get_many / MGET / ANY(%s)
GONE = 1e-6
"""Local TTL bound making every promoted copy expire before its next read.

With ``promotion=TierTTLs(local=GONE)`` each read of a remote row finds the
copy the previous read of that key promoted already expired: it pays the local
lookup (and dropping the dead copy), the remote read, unpack and decode, and
the promotion itself (a local put under the lock), every time.
"""


def tier_settings(quick: bool) -> Settings:
    """Return the settings of the tier reports (all three: ~20 s, quick: ~12 s).

    A remote read takes tens of microseconds, so a 40 ms sample still holds
    hundreds of them; 15 interleaved rounds keep the paired ratios stable.
    """
    if quick:
        return Settings(
            rounds=7,
            warmup=1,
            sample_time=0.02,
            scaling_time=0.1,
            scaling_rounds=3,
            trials=2,
        )
    return Settings(
        rounds=15,
        warmup=2,
        sample_time=0.04,
        scaling_time=0.1,
        scaling_rounds=8,
        trials=3,
    )


TIER_KEYS = [f"user:{n}" for n in range(BATCH_KEYS)]
TIER_NAMES = {f"k{i}": TIER_KEYS[i] for i in range(TIER_OPS)}


def resolve_redis_url(given: str | None = None) -> str:
    """Return ``given``, else ``$HYDRACACHE_REDIS_URL``, else the local server."""
    return given or os.environ.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL


def resolve_postgres_dsn(given: str | None = None) -> str:
    """Return ``given``, else ``$HYDRACACHE_POSTGRES_DSN``, else the local server."""
    return given or os.environ.get(ENV_POSTGRES_DSN) or DEFAULT_POSTGRES_DSN


def _mask(url: str) -> str:
    """Hide a password in a URL or a ``key=value`` DSN before it is printed."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in url:
        return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def redis_unreachable(url: str) -> str | None:
    """Return why the Redis benchmarks cannot run on ``url``, or None."""
    try:
        from ..tiers.redis import RedisStore

        store = RedisStore.from_url(url, prefix="hcbench:probe:")
    except Exception as exc:  # MissingDependencyError, ConfigError
        return first_line(exc)
    try:
        store.client.ping()
    except Exception as exc:  # any driver error means: not usable here
        return f"cannot reach {_mask(url)}: {first_line(exc)}"
    finally:
        store.close()
    return None


def postgres_unreachable(dsn: str) -> str | None:
    """Return why the Postgres benchmarks cannot run on ``dsn``, or None."""
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 not installed: pip install 'hydracache_sync[postgres]'"
    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"cannot connect to {_mask(dsn)}: {first_line(exc)}"
    return None


class RedisSandbox:
    """A unique key prefix on a shared Redis; :meth:`remove` unlinks all under it."""

    def __init__(self, url: str) -> None:
        import uuid

        self.url = url
        self.prefix = f"hcbench:{uuid.uuid4().hex[:12]}:"

    def store(self) -> Any:
        """Return a new ``RedisStore`` on the sandbox prefix (its own client)."""
        from ..tiers.redis import RedisStore

        return RedisStore.from_url(self.url, prefix=self.prefix)

    def remove(self) -> int:
        """Unlink every key under the prefix; return how many are left (0)."""
        store = self.store()
        try:
            client = store.client
            match = self.prefix + "*"  # the prefix holds no glob metacharacters
            for _ in range(3):
                keys = list(client.scan_iter(match=match, count=1000))
                for start in range(0, len(keys), 1000):
                    client.unlink(*keys[start : start + 1000])
                if not keys:
                    break
            return len(list(client.scan_iter(match=match, count=1000)))
        finally:
            store.close()


def wait_listening(cache: Any, timeout: float = 5.0) -> None:
    """Wait until ``cache``'s invalidation listener is subscribed."""
    deadline = time.monotonic() + timeout
    while not cache.listening:
        if time.monotonic() > deadline:
            raise RuntimeError("the invalidation listener did not subscribe in time")
        time.sleep(0.002)


def closing(caches: list[Any], cache: Any) -> Any:
    caches.append(cache)
    return cache


def close_all(closers: list[Any]) -> None:
    """Close what a family opened, last first (caches before the pools they
    borrow), ignoring errors; a psycopg2 pool is closed with ``closeall``."""
    for item in reversed(closers):
        close = getattr(item, "closeall", None) or item.close
        with contextlib.suppress(Exception):
            close()


def hits_note(stats: Any, counter: str) -> str:
    """Check the method: every read of the remote rows should be a remote hit."""
    remote = f"{getattr(stats, counter):,} {counter.replace('_', ' ')}"
    return f"the reader counted {remote} and {stats.local_hits} local hits (0 expected)"


class PostgresSandbox:
    """A unique schema holding the shipped migration; :meth:`drop` removes it."""

    table = "hydracache"

    def __init__(self, dsn: str) -> None:
        import uuid

        self.dsn = dsn
        self.schema = f"hcbench_{uuid.uuid4().hex[:12]}"

    def connect(self) -> Any:
        """Return an autocommit connection with the store's connection settings.

        ``PostgresStore`` opens its pool with these (``connect_timeout``, a
        ``statement_timeout`` of 2 s, ``application_name``) and autocommit.
        """
        import psycopg2

        conn = psycopg2.connect(
            self.dsn,
            connect_timeout="3",
            options="-c statement_timeout=2000",
            application_name="hydracache_sync",
        )
        conn.autocommit = True
        return conn

    def create(self) -> None:
        from psycopg2 import sql

        from ..tiers.postgres import migration_sql

        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema))
                )
                cur.execute(migration_sql(self.schema, self.table))
        finally:
            conn.close()

    def drop(self) -> bool:
        """Drop the schema (only ours); tell whether it is gone."""
        from psycopg2 import sql

        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(self.schema)
                    )
                )
                cur.execute(
                    "SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                    (self.schema,),
                )
                row = cur.fetchone()
            return bool(row is not None and row[0] == 0)
        finally:
            conn.close()

    def query(self, conn: Any, template: str) -> str:
        """Render ``template`` with ``{table}`` as the quoted table name."""
        from psycopg2 import sql

        table = sql.Identifier(self.schema, self.table)
        return sql.SQL(template).format(table=table).as_string(conn)
