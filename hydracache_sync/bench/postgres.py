"""The durable-tier scenarios on Postgres: HydraCache against raw psycopg2."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import threading
import time
from collections.abc import Iterator
from typing import Any

from .display import Progress
from .harness import (
    Body,
    Harness,
    Setup,
    compile_loop,
    measure_scaling,
    scaling_steps,
    throughput,
)
from .local import VALUE
from .report import Report, Target
from .servers import (
    BATCH_KEYS,
    GONE,
    TIER_KEYS,
    TIER_NAMES,
    TIER_OPS,
    PostgresSandbox,
    close_all,
    closing,
    hits_note,
    resolve_postgres_dsn,
    tier_settings,
)

__all__ = ["postgres_report"]


def _waiting_pool(sandbox: PostgresSandbox, size: int) -> Any:
    """Return a psycopg2 pool of ``size`` connections where callers wait their turn.

    Written when ``PostgresStore`` did not yet wait for a busy connection (it
    now does, up to ``pool_timeout``); kept so the scaling rows measure a pool
    with the store's connection settings (autocommit, ``statement_timeout``)
    whose ``size`` alone limits the concurrency.
    """
    from psycopg2.extensions import connection
    from psycopg2.pool import ThreadedConnectionPool

    class WaitingPool(ThreadedConnectionPool):
        def __init__(self) -> None:
            super().__init__(
                size,
                size,
                sandbox.dsn,
                connect_timeout="3",
                options="-c statement_timeout=2000",
                application_name="hydracache_sync",
            )
            self.slots = threading.BoundedSemaphore(size)

        def getconn(self, key: Any = None) -> connection:
            self.slots.acquire()
            try:
                conn = super().getconn(key)
            except BaseException:
                self.slots.release()
                raise
            if not conn.autocommit:
                conn.autocommit = True
            return conn

        def putconn(
            self, conn: connection | None = None, key: Any = None, close: bool = False
        ) -> None:
            try:
                super().putconn(conn, key, close)
            finally:
                self.slots.release()

    return WaitingPool()


@contextlib.contextmanager
def _quiet_tier_warnings() -> Iterator[None]:
    """Mute the degrade warnings of a run that provokes tier errors on purpose."""
    logger = logging.getLogger("hydracache_sync")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _exhausted_pool_run(
    sandbox: PostgresSandbox, threads: int, duration: float
) -> tuple[float, int, int]:
    """8 threads on the store's own 1-connection pool: (hits/s, hits, tier errors)."""
    from .. import HydraCache, TierTTLs
    from ..tiers.postgres import PostgresStore

    store = PostgresStore(
        sandbox.dsn,
        schema=sandbox.schema,
        table=sandbox.table,
        min_connections=1,
        max_connections=1,
    )
    cache = HydraCache(durable=store, promotion=TierTTLs(local=GONE))
    try:
        body = compile_loop("cache.get(k{i})", TIER_OPS, cache=cache, **TIER_NAMES)
        body()  # prepares the connection
        before = cache.stats()
        with _quiet_tier_warnings():
            started = time.perf_counter()
            throughput(body, ops=TIER_OPS, threads=threads, duration=duration)
            elapsed = time.perf_counter() - started
        after = cache.stats()
    finally:
        cache.close()
    hits = after.durable_hits - before.durable_hits
    return hits / elapsed, hits, after.tier_errors - before.tier_errors


def postgres_report(
    dsn: str | None = None,
    quick: bool = False,
    progress: bool | None = None,
    threads: int = 8,
) -> Report:
    """Measure the durable tier on Postgres against raw psycopg2.

    Groups: a durable hit (no shared tier, local copy gone) against a raw
    ``SELECT value ... WHERE key = %s``; ``get_many`` of 100 keys against one
    raw ``WHERE key = ANY(%s)``; durable-hit throughput of ``threads`` threads
    against one with a pool of 8 and of 1 connection.

    Args:
        dsn: The server (default: :func:`resolve_postgres_dsn`).
        quick: Fewer, shorter rounds.
        progress: Progress bar: ``None`` only on a TTY.
        threads: Thread count for the scaling rows.
    """
    from .. import Cost, HydraCache, TierTTLs
    from ..tiers.postgres import PostgresStore

    started = time.perf_counter()
    dsn = resolve_postgres_dsn(dsn)
    settings = tier_settings(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = PostgresSandbox(dsn)
    sandbox.create()
    closers: list[Any] = []
    keys = list(TIER_KEYS)
    try:

        def durable_cache(pool: Any = None, size: int = 8) -> Any:
            store = PostgresStore(
                sandbox.dsn if pool is None else pool,
                schema=sandbox.schema,
                table=sandbox.table,
                min_connections=1,
                max_connections=size,
            )
            return closing(
                closers, HydraCache(durable=store, promotion=TierTTLs(local=GONE))
            )

        reader = durable_cache()
        reader.set_many(dict.fromkeys(keys, VALUE), ttl=3600, cost=Cost.EXPENSIVE)
        conn = closing(closers, sandbox.connect())
        one = sandbox.query(conn, "SELECT value FROM {table} WHERE key = %s")
        many = sandbox.query(conn, "SELECT key, value FROM {table} WHERE key = ANY(%s)")

        def select(key: str) -> Any:
            with conn.cursor() as cur:
                cur.execute(one, (key,))
                return cur.fetchone()

        def select_many(key_list: list[str]) -> Any:
            with conn.cursor() as cur:
                cur.execute(many, (key_list,))
                return cur.fetchall()

        if select(keys[0]) is None or len(select_many(keys)) != len(keys):
            raise RuntimeError("the benchmark rows did not reach Postgres")

        hit_base = "psycopg2 SELECT"
        harness.group(
            "durable",
            baseline=hit_base,
            title=(
                f"durable hit: {TIER_OPS} keys, local miss + SELECT + decode "
                "+ promotion (ns per read)"
            ),
        )
        harness.add(
            "durable",
            hit_base,
            compile_loop("select(k{i})", TIER_OPS, select=select, **TIER_NAMES),
            ops=TIER_OPS,
            note="SELECT value ... WHERE key = %s, one autocommit connection",
        )
        harness.add(
            "durable",
            "HydraCache.get",
            compile_loop("cache.get(k{i})", TIER_OPS, cache=reader, **TIER_NAMES),
            ops=TIER_OPS,
            note="durable=PostgresStore only, TierTTLs(local=1us)",
        )
        many_base = f"psycopg2 ANY(%s) ({BATCH_KEYS} keys)"
        harness.group(
            "many",
            baseline=many_base,
            title=f"get_many of {BATCH_KEYS} keys, none local (ns per call)",
        )
        harness.add(
            "many",
            many_base,
            functools.partial(select_many, keys),
            note="SELECT key, value ... WHERE key = ANY(%s)",
        )
        harness.add(
            "many",
            f"HydraCache.get_many ({BATCH_KEYS} keys)",
            functools.partial(reader.get_many, keys),
            note="every key: local miss, one query, decode, promotion",
        )

        def pooled(size: int, waiting: bool) -> Body:
            pool = _waiting_pool(sandbox, size) if waiting else None
            if pool is not None:
                closers.append(pool)
            cache = durable_cache(pool, size)
            body = compile_loop("cache.get(k{i})", TIER_OPS, cache=cache, **TIER_NAMES)
            # Open and prepare every connection before timing.
            throughput(body, ops=TIER_OPS, threads=size, duration=0.05)
            return body

        scaling_rows: list[tuple[str, Setup | None, int, str | None]] = [
            (
                "pool 8: PostgresStore(max_connections=8)",
                functools.partial(pooled, 8, False),
                TIER_OPS,
                None,
            ),
            (
                "pool 1: one connection, threads wait",
                functools.partial(pooled, 1, True),
                TIER_OPS,
                None,
            ),
        ]
        bar.total = (
            harness.planned_steps() + scaling_steps(len(scaling_rows), settings) + 1
        )
        try:
            groups = harness.run()
            scaling = measure_scaling(
                scaling_rows,
                threads=threads,
                settings=settings,
                progress=bar,
            )
            bar.advance("own pool of 1, 8 threads")
            exhausted = _exhausted_pool_run(sandbox, threads, settings.scaling_time)
        finally:
            bar.close()
        reader_stats = reader.stats()
        scaled_errors = sum(
            c.stats().tier_errors for c in closers if isinstance(c, HydraCache)
        )
    finally:
        close_all(closers)  # caches before the pools they borrow
        dropped = sandbox.drop()

    by_name = {g.name: g for g in groups}
    pool8, pool1 = scaling
    rate, hits, errors = exhausted
    report = Report(
        title=(
            "hydracache_sync durable tier on Postgres "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, loopback, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        scaling=scaling,
        scaling_title=(
            f"durable-hit throughput, {threads} threads against 1 (aggregate, "
            f"{settings.scaling_rounds} rounds)"
        ),
        targets=[
            Target(
                f"durable hit / {hit_base}",
                by_name["durable"].ratio("HydraCache.get"),
                "<=",
                1.0,
            ),
            Target(
                f"get_many({BATCH_KEYS}) / ANY(%s)",
                by_name["many"].ratio(f"HydraCache.get_many ({BATCH_KEYS} keys)"),
                "<=",
                1.2,
            ),
        ],
        notes=[
            "ratios are medians of per-round ratios (rows interleaved per round)",
            "durable rows: promotion=TierTTLs(local=1us), so each read's local "
            "copy is expired by its next read (local lookup and drop of the dead "
            "copy, prepared SELECT through the store's pool, decode, promotion); "
            + hits_note(reader_stats, "durable_hits"),
            f"thread scaling: pool 8 ratio {pool8.ratio:.2f}x, pool 1 ratio "
            f"{pool1.ratio:.2f}x; {scaled_errors} tier errors in all rows",
            f"the store's own pool, max_connections=1, {threads} threads (callers "
            f"wait for the connection up to pool_timeout): {errors:,} tier "
            f"errors, {rate:,.0f} durable hits/s ({hits:,} hits)",
            f"sandbox schema {sandbox.schema!r} "
            + ("dropped" if dropped else "NOT dropped"),
        ],
    )
    report.seconds = time.perf_counter() - started
    return report
