"""Realistic populations: @hydra_cache over many arguments, remote reads of many keys.

Rows of a group are interleaved per round; ratios are medians of per-round
ratios against the group's baseline (``benchmarks/_harness.py``). Every body
walks a fixed shuffled permutation of its population, ``CHUNK`` calls per body
call, resuming where the last call stopped, so the rows of a group call with
the same arguments in the same order (the walk itself, about 30 ns a call, is
in every row alike). One-argument rows are labelled best case.

- ``@hydra_cache`` hit over 1 (best case), 10,000 and 100,000 distinct ``int``
  arguments against cachetools ``@cached(TTLCache, RLock)`` (maxsize above the
  population) and ``functools.lru_cache`` (the floor); the cold key build of
  one scalar argument (digest only, never remembered).
- Redis (``--redis``): shared-tier hit over 10,000 keys (100-byte-class
  values) with the local copy gone through a tiny ``TierTTLs.local`` and
  through eviction (a 64 KB local tier), against a raw redis-py ``GET``;
  ``get_many`` of 100 shuffled keys against one ``MGET``.
- Postgres (``--postgres``): the same against a raw psycopg2 ``SELECT value``
  and ``WHERE key = ANY(%s)``.

    python benchmarks/bench_populations.py [--quick] [--redis URL] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from _harness import (
    Body,
    Harness,
    Progress,
    Report,
    Settings,
    Target,
    bench_main,
)

Goal = tuple[str, str, str, float]  # label, group, row, ratio limit (<=)

CHUNK = 100  # calls per body call
DECORATOR_POPULATIONS = (10_000, 100_000)
REMOTE_POPULATION = 10_000
BATCH = 100
VALUE: dict[str, Any] = {
    "id": 42,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "roles": ["admin", "editor"],
    "active": True,
}
GONE = 1e-6  # TierTTLs.local: every promoted copy is expired by its next read
EVICTING = 64 * 1024  # local tier bytes: about 400 entries of a 10,000-key population


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this module."""
    parser.add_argument(
        "--populations-remote-only",
        action="store_true",
        help="skip the decorator rows",
    )


def walk(call: Callable[[Any], Any], population: Sequence[Any]) -> Body:
    """Return a body calling ``call`` on the next ``CHUNK`` items of the population."""
    size = len(population)
    ring = list(population) + list(population[:CHUNK])
    position = [0]

    def body() -> None:
        start = position[0]
        for item in ring[start : start + CHUNK]:
            call(item)
        position[0] = (start + CHUNK) % size

    return body


def batches(call: Callable[[Any], Any], groups: Sequence[Any]) -> Body:
    """Return a body calling ``call`` on the next of ``groups`` (cycling)."""
    count = len(groups)
    position = [0]

    def body() -> None:
        index = position[0]
        call(groups[index])
        position[0] = (index + 1) % count

    return body


def shuffled(items: Sequence[Any], seed: int = 14) -> list[Any]:
    """Return ``items`` in a fixed pseudo-random order."""
    result = list(items)
    random.Random(seed).shuffle(result)
    return result


# -- the decorator ------------------------------------------------------------------


def _work(x: Any) -> tuple[Any]:
    return (x,)


def _hydra(population: Sequence[Any]) -> Body:
    from hydracache_sync import HydraCache, hydra_cache

    cache = HydraCache.local(max_bytes="512MB", default_ttl=3600)
    function = hydra_cache(cache=cache, ttl=3600)(_work)
    for x in population:
        function(x)
    return walk(function, population)


def _cachetools(population: Sequence[Any]) -> Body:
    from cachetools import TTLCache, cached

    function = cached(
        TTLCache(maxsize=len(population) + 1000, ttl=3600), lock=threading.RLock()
    )(_work)
    for x in population:
        function(x)
    return walk(function, population)


def _lru(population: Sequence[Any]) -> Body:
    function = functools.lru_cache(maxsize=None)(_work)
    for x in population:
        function(x)
    return walk(function, population)


def _cold_keys(population: Sequence[Any]) -> Body:
    import inspect

    from hydracache_sync._keys import ArgumentKeys

    keys = ArgumentKeys(inspect.signature(_work), qualname="_work")

    def build(x: Any) -> str:
        return "bench._work:" + keys.digest((x,), {})

    return walk(build, population)


def decorator_groups(harness: Harness) -> list[Goal]:
    """Register the decorator groups; return their targets."""
    base = "cachetools @cached(TTLCache, RLock)"
    targets: list[Goal] = []
    for label, population in [("best case: 1 argument", [7] * CHUNK)] + [
        (f"{n:,} distinct int arguments, shuffled", shuffled(range(n)))
        for n in DECORATOR_POPULATIONS
    ]:
        group = f"decorator {label}"
        harness.group(
            group, baseline=base, title=f"@hydra_cache hit over {label} (ns per call)"
        )
        pop = population
        harness.add(group, "@hydra_cache", setup=lambda p=pop: _hydra(p), ops=CHUNK)
        harness.add(group, base, setup=lambda p=pop: _cachetools(p), ops=CHUNK)
        harness.add(
            group,
            "functools.lru_cache",
            setup=lambda p=pop: _lru(p),
            ops=CHUNK,
            note="the floor: no TTL, no lock, C",
        )
        targets.append((f"{group} / cachetools", group, "@hydra_cache", 1.0))
    cold = "cold key build, one int"
    harness.group(cold, title="key digest of one scalar argument (ns per key)")
    harness.add(
        cold,
        "ArgumentKeys.digest",
        setup=lambda: _cold_keys(shuffled(range(100_000))),
        ops=CHUNK,
        note="100,000 distinct ints: never remembered",
    )
    return targets


# -- remote tiers --------------------------------------------------------------------


def _remote_keys() -> list[str]:
    return shuffled([f"user:{n}" for n in range(REMOTE_POPULATION)])


def _key_batches(keys: list[str]) -> list[list[str]]:
    return [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]


def _reader(factory: Callable[..., Any], mode: str) -> Any:
    from hydracache_sync import LocalStore, TierTTLs

    if mode == "ttl":
        return factory(promotion=TierTTLs(local=GONE))
    return factory(local=LocalStore(EVICTING))


def redis_groups(
    harness: Harness, url: str, closers: list[Callable[[], Any]]
) -> tuple[list[Goal], list[str]]:
    """Register the Redis groups (data written now); return targets and notes."""
    from hydracache_sync import HydraCache
    from hydracache_sync.tiers.redis import RedisStore

    prefix = f"hcbench:{uuid.uuid4().hex[:12]}:"

    def store() -> RedisStore:
        made = RedisStore.from_url(url, prefix=prefix)
        closers.append(made.close)
        return made

    def remove() -> None:
        client = store().client
        for _ in range(3):
            found = list(client.scan_iter(match=prefix + "*", count=1000))
            for start in range(0, len(found), 1000):
                client.unlink(*found[start : start + 1000])
            if not found:
                break

    closers.insert(0, remove)
    keys = _remote_keys()
    writer = HydraCache(shared=store(), broadcast=False)
    closers.append(writer.close)
    for group in _key_batches(keys):
        writer.set_many(dict.fromkeys(group, VALUE), ttl=3600)
    raw = store()
    value_keys = [raw.value_key(key) for key in keys]
    size = len(raw.client.get(value_keys[0]) or b"")

    def factory(**options: Any) -> Any:
        cache = HydraCache(shared=store(), broadcast=False, **options)
        closers.append(cache.close)
        return cache

    base = "redis-py GET"
    hit = f"shared-tier hit, {REMOTE_POPULATION:,} keys"
    harness.group(hit, baseline=base, title=f"{hit}, {size}-byte envelopes (ns/read)")
    harness.add(hit, base, walk(raw.client.get, value_keys), ops=CHUNK)
    ttl_reader = _reader(factory, "ttl")
    evict_reader = _reader(factory, "evict")
    harness.add(
        hit,
        "HydraCache.get, tiny TierTTLs.local",
        walk(ttl_reader.get, keys),
        ops=CHUNK,
        note="local copy expired by its next read",
    )
    harness.add(
        hit,
        "HydraCache.get, local evicted",
        walk(evict_reader.get, keys),
        ops=CHUNK,
        note=f"{EVICTING // 1024} KB local tier",
    )
    many_base = f"redis-py MGET ({BATCH})"
    many = f"get_many({BATCH}), {REMOTE_POPULATION:,} keys"
    harness.group(many, baseline=many_base, title=f"{many}, {size}-byte envelopes")
    harness.add(many, many_base, batches(raw.client.mget, _key_batches(value_keys)))
    harness.add(
        many,
        "HydraCache.get_many, tiny TierTTLs.local",
        batches(_reader(factory, "ttl").get_many, _key_batches(keys)),
    )
    harness.add(
        many,
        "HydraCache.get_many, local evicted",
        batches(_reader(factory, "evict").get_many, _key_batches(keys)),
    )
    targets = [
        (
            f"{hit} (tiny local TTL) / GET",
            hit,
            "HydraCache.get, tiny TierTTLs.local",
            1.2,
        ),
        (f"{hit} (evicted) / GET", hit, "HydraCache.get, local evicted", 1.2),
        (f"{many} / MGET", many, "HydraCache.get_many, tiny TierTTLs.local", 1.5),
    ]
    return targets, [f"Redis envelope size: {size} bytes (CBOR value + header)"]


def postgres_groups(
    harness: Harness, dsn: str, closers: list[Callable[[], Any]]
) -> tuple[list[Goal], list[str]]:
    """Register the Postgres groups (data written now); return targets and notes."""
    import psycopg2
    from psycopg2 import sql

    from hydracache_sync import Cost, HydraCache
    from hydracache_sync.tiers.postgres import PostgresStore, migration_sql

    schema = f"hcbench_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(dsn, application_name="hydracache_sync")
    conn.autocommit = True

    def drop() -> None:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)
                )
            )
        conn.close()

    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur.execute(migration_sql(schema, "hydracache"))
    closers.insert(0, drop)
    keys = _remote_keys()

    def factory(**options: Any) -> Any:
        store = PostgresStore(dsn, schema=schema, min_connections=1, max_connections=2)
        cache = HydraCache(durable=store, **options)
        closers.append(cache.close)
        return cache

    writer = factory()
    for group in _key_batches(keys):
        writer.set_many(dict.fromkeys(group, VALUE), ttl=3600, cost=Cost.EXPENSIVE)
    table = sql.Identifier(schema, "hydracache").as_string(conn)
    one = f"SELECT value FROM {table} WHERE key = %s"  # noqa: S608
    anyq = f"SELECT key, value FROM {table} WHERE key = ANY(%s)"  # noqa: S608
    cur = conn.cursor()
    cur.execute(f"SELECT octet_length(value) FROM {table} LIMIT 1")  # noqa: S608
    row = cur.fetchone()
    size = row[0] if row else 0

    def select(key: str) -> Any:
        cur.execute(one, (key,))
        return cur.fetchone()

    def select_many(group: list[str]) -> Any:
        cur.execute(anyq, (group,))
        return cur.fetchall()

    base = "psycopg2 SELECT value"
    hit = f"durable hit, {REMOTE_POPULATION:,} keys"
    harness.group(hit, baseline=base, title=f"{hit}, {size}-byte envelopes (ns/read)")
    harness.add(hit, base, walk(select, keys), ops=CHUNK, note="autocommit cursor")
    harness.add(
        hit,
        "HydraCache.get, tiny TierTTLs.local",
        walk(_reader(factory, "ttl").get, keys),
        ops=CHUNK,
    )
    harness.add(
        hit,
        "HydraCache.get, local evicted",
        walk(_reader(factory, "evict").get, keys),
        ops=CHUNK,
        note=f"{EVICTING // 1024} KB local tier",
    )
    many_base = f"psycopg2 ANY(%s) ({BATCH})"
    many = f"durable get_many({BATCH}), {REMOTE_POPULATION:,} keys"
    harness.group(many, baseline=many_base, title=f"{many}, {size}-byte envelopes")
    harness.add(many, many_base, batches(select_many, _key_batches(keys)))
    harness.add(
        many,
        "HydraCache.get_many, tiny TierTTLs.local",
        batches(_reader(factory, "ttl").get_many, _key_batches(keys)),
    )
    targets = [
        (
            f"{hit} (tiny local TTL) / SELECT",
            hit,
            "HydraCache.get, tiny TierTTLs.local",
            1.2,
        ),
        (f"{hit} (evicted) / SELECT", hit, "HydraCache.get, local evicted", 1.2),
        (f"{many} / ANY", many, "HydraCache.get_many, tiny TierTTLs.local", 1.5),
    ]
    return targets, [f"Postgres value size: {size} bytes (the envelope)"]


def run(args: argparse.Namespace) -> Report | None:
    """Measure every group the configured servers allow."""
    started = time.perf_counter()
    settings = (
        Settings(rounds=5, warmup=1, sample_time=0.05)
        if args.quick
        else Settings(rounds=11, warmup=1, sample_time=0.1)
    )
    bar = Progress(enabled=args.progress)
    harness = Harness(settings, bar)
    closers: list[Callable[[], Any]] = []
    targets: list[Goal] = []
    notes = [
        f"each body: {CHUNK} calls walking a fixed shuffled permutation",
        "ratios: medians of per-round ratios (rows interleaved per round)",
    ]
    try:
        if not args.populations_remote_only:
            targets += decorator_groups(harness)
        redis_url = args.redis or os.environ.get("HYDRACACHE_REDIS_URL")
        if redis_url:
            found, extra = redis_groups(harness, redis_url, closers)
            targets, notes = targets + found, notes + extra
        dsn = args.postgres or os.environ.get("HYDRACACHE_POSTGRES_DSN")
        if dsn:
            found, extra = postgres_groups(harness, dsn, closers)
            targets, notes = targets + found, notes + extra
        bar.total = harness.planned_steps()
        try:
            groups = harness.run()
        finally:
            bar.close()
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
    by_name = {g.name: g for g in groups}
    report = Report(
        title=(
            "hydracache_sync over realistic populations "
            f"(Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        targets=[
            Target(label, by_name[group].ratio(row), "<=", limit)
            for label, group, row, limit in targets
        ],
        notes=notes,
    )
    report.seconds = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__, add_arguments=add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
