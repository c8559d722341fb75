"""Durable-tier reads over a realistic population: 10,000 keys in Postgres, shuffled.

As ``redis_populations``, with Postgres as the only remote tier: the local
copy of every read is gone through a tiny ``TierTTLs.local`` or through
eviction. Baselines: a raw psycopg2 ``SELECT value ... WHERE key = %s`` and
one raw ``WHERE key = ANY(%s)`` of the same 100 keys, on one autocommit
connection.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from typing import Any

from .display import Progress
from .harness import Harness
from .local import VALUE
from .populations import CHUNK, batches, population_settings, walk
from .redis_populations import (
    BATCH,
    EVICT_ROW,
    EVICTING,
    MANY_EVICT_ROW,
    MANY_TTL_ROW,
    POPULATION,
    TTL_ROW,
    in_batches,
    readers,
    remote_keys,
)
from .report import Report, Target
from .servers import PostgresSandbox, resolve_postgres_dsn

__all__ = ["postgres_population_report"]


def postgres_population_report(
    dsn: str | None = None, quick: bool = False, progress: bool | None = None
) -> Report:
    """Measure durable hits and ``get_many(100)`` over 10,000 shuffled keys."""
    from .. import Cost, HydraCache
    from ..tiers.postgres import PostgresStore

    started = time.perf_counter()
    dsn = resolve_postgres_dsn(dsn)
    settings = population_settings(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = PostgresSandbox(dsn)
    sandbox.create()
    closers: list[Any] = []

    def cache(**options: Any) -> Any:
        store = PostgresStore(
            dsn, schema=sandbox.schema, table=sandbox.table, max_connections=2
        )
        made = HydraCache(durable=store, **options)
        closers.append(made)
        return made

    keys = remote_keys()
    try:
        writer = cache()
        for group in in_batches(keys):
            writer.set_many(dict.fromkeys(group, VALUE), ttl=3600, cost=Cost.EXPENSIVE)
        conn = sandbox.connect()
        closers.append(conn)
        cur = conn.cursor()
        one = sandbox.query(conn, "SELECT value FROM {table} WHERE key = %s")
        many = sandbox.query(conn, "SELECT key, value FROM {table} WHERE key = ANY(%s)")
        cur.execute(
            sandbox.query(conn, "SELECT octet_length(value) FROM {table} LIMIT 1")
        )
        row = cur.fetchone()
        size = int(row[0]) if row else 0

        def select(key: str) -> Any:
            cur.execute(one, (key,))
            return cur.fetchone()

        def select_many(group: list[str]) -> Any:
            cur.execute(many, (group,))
            return cur.fetchall()

        by_ttl, by_eviction = readers(cache)
        many_ttl, many_eviction = readers(cache)
        hit_base = "psycopg2 SELECT value"
        harness.group(
            "hit",
            baseline=hit_base,
            title=(
                f"durable hit, {POPULATION:,} keys shuffled, {size}-byte "
                "envelopes, local copy gone (ns per read)"
            ),
        )
        harness.add("hit", hit_base, walk(select, keys), ops=CHUNK, note="autocommit")
        harness.add("hit", TTL_ROW, walk(by_ttl.get, keys), ops=CHUNK)
        harness.add(
            "hit",
            EVICT_ROW,
            walk(by_eviction.get, keys),
            ops=CHUNK,
            note=f"a {EVICTING // 1024} KB local tier",
        )
        many_base = f"psycopg2 ANY(%s) ({BATCH} keys)"
        harness.group(
            "many",
            baseline=many_base,
            title=(
                f"get_many({BATCH}) over {POPULATION:,} keys shuffled, {size}-byte "
                "envelopes, none local (ns per call)"
            ),
        )
        harness.add("many", many_base, batches(select_many, in_batches(keys)))
        harness.add("many", MANY_TTL_ROW, batches(many_ttl.get_many, in_batches(keys)))
        harness.add(
            "many", MANY_EVICT_ROW, batches(many_eviction.get_many, in_batches(keys))
        )
        bar.total = harness.planned_steps()
        try:
            results = harness.run()
        finally:
            bar.close()
    finally:
        for item in reversed(closers):
            with contextlib.suppress(Exception):
                item.close()
        dropped = sandbox.drop()
    by_name = {g.name: g for g in results}
    report = Report(
        title=(
            f"durable tier on Postgres over {POPULATION:,} keys "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, loopback, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=results,
        targets=[
            Target(
                "durable hit (tiny local TTL) / SELECT",
                by_name["hit"].ratio(TTL_ROW),
                "<=",
                1.2,
            ),
            Target(
                "durable hit (evicted) / SELECT",
                by_name["hit"].ratio(EVICT_ROW),
                "<=",
                1.2,
            ),
            Target(
                f"get_many({BATCH}) / ANY(%s)",
                by_name["many"].ratio(MANY_TTL_ROW),
                "<=",
                1.5,
            ),
        ],
        notes=[
            f"each single-key body: {CHUNK} reads walking a fixed shuffled permutation",
            f"value: a 5-field user dict; {size}-byte envelope in Postgres",
            f"sandbox schema {sandbox.schema!r} dropped: {dropped}",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report
