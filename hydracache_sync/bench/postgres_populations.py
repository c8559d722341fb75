"""Durable-tier reads over a realistic population: 10,000 keys in Postgres, shuffled.

As ``redis_populations``, with Postgres as the only remote tier: the local
copy of every read is gone through a tiny ``TierTTLs.local`` or through
eviction. Baselines: a raw psycopg2 ``SELECT value ... WHERE key = %s`` and
one raw ``WHERE key = ANY(%s)`` of the same 100 keys, on one autocommit
connection.
"""

from __future__ import annotations

import time
from typing import Any

from .display import Progress
from .harness import Harness
from .local import VALUE
from .populations import CHUNK, batches, population_settings, walk
from .redis_populations import (
    BATCH,
    add_reader_rows,
    in_batches,
    population_title,
    reader_targets,
    remote_keys,
)
from .report import Report
from .servers import PostgresSandbox, close_all, resolve_postgres_dsn

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

        add_reader_rows(
            harness,
            cache,
            keys,
            tier="durable",
            size=size,
            hit=("psycopg2 SELECT value", walk(select, keys), "autocommit"),
            many=(
                f"psycopg2 ANY(%s) ({BATCH} keys)",
                batches(select_many, in_batches(keys)),
            ),
        )
        bar.total = harness.planned_steps()
        try:
            results = harness.run()
        finally:
            bar.close()
    finally:
        close_all(closers)
        dropped = sandbox.drop()
    report = Report(
        title=population_title("durable tier on Postgres", quick, settings.rounds),
        groups=results,
        targets=reader_targets(results, "durable", "SELECT", "ANY(%s)"),
        notes=[
            f"each single-key body: {CHUNK} reads walking a fixed shuffled permutation",
            f"value: a 5-field user dict; {size}-byte envelope in Postgres",
            f"sandbox schema {sandbox.schema!r} dropped: {dropped}",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report
