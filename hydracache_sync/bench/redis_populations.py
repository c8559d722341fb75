"""Shared-tier reads over a realistic population: 10,000 keys on Redis, shuffled.

The local copy of every read is gone, two ways: through a tiny
``TierTTLs.local`` (each promoted copy expires before its next read) and
through eviction (a 64 KB local tier holds a few hundred of the 10,000
entries). Baselines: a raw redis-py ``GET`` of the same envelope bytes and one
raw ``MGET`` of the same 100 keys, on the store's own client.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

from .display import Progress
from .harness import Body, Harness
from .local import VALUE
from .populations import CHUNK, batches, population_settings, shuffled, walk
from .report import GroupResult, Report, Target
from .servers import GONE, RedisSandbox, close_all, resolve_redis_url

__all__ = [
    "EVICTING",
    "POPULATION",
    "add_reader_rows",
    "population_title",
    "reader_targets",
    "redis_population_report",
    "remote_keys",
]

POPULATION = 10_000
BATCH = 100
EVICTING = 64 * 1024  # local tier bytes: a few hundred of the population's entries
TTL_ROW = "HydraCache.get, tiny TierTTLs.local"
EVICT_ROW = "HydraCache.get, local copies evicted"
MANY_TTL_ROW = "HydraCache.get_many, tiny TierTTLs.local"
MANY_EVICT_ROW = "HydraCache.get_many, local copies evicted"


def remote_keys() -> list[str]:
    """The population: ``user:0`` .. ``user:9999`` in a fixed shuffled order."""
    return shuffled([f"user:{n}" for n in range(POPULATION)])


def in_batches(keys: list[str]) -> list[list[str]]:
    """Split ``keys`` into consecutive batches of ``BATCH``."""
    return [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]


def readers(make: Callable[..., Any]) -> tuple[Any, Any]:
    """Return two readers: local copies gone by a tiny TTL, and by eviction."""
    from .. import LocalStore, TierTTLs

    return make(promotion=TierTTLs(local=GONE)), make(local=LocalStore(EVICTING))


def add_reader_rows(
    harness: Harness,
    cache: Callable[..., Any],
    keys: list[str],
    *,
    tier: str,
    size: int,
    hit: tuple[str, Body, str],
    many: tuple[str, Body],
) -> list[Any]:
    """Add the hit and ``get_many`` groups of a remote tier; return the readers.

    Args:
        harness: Where the rows go.
        cache: Builds a reader over the tier (``HydraCache`` keyword arguments).
        keys: The population, in its shuffled order.
        tier: How titles name the tier (``"shared-tier"``, ``"durable"``).
        size: The bytes of one stored envelope.
        hit: The raw single-key baseline: row name, body and note.
        many: The raw ``BATCH``-key baseline: row name and body.
    """
    by_ttl, by_eviction = readers(cache)
    many_ttl, many_eviction = readers(cache)
    hit_base, hit_body, hit_note = hit
    harness.group(
        "hit",
        baseline=hit_base,
        title=(
            f"{tier} hit, {POPULATION:,} keys shuffled, {size}-byte "
            "envelopes, local copy gone (ns per read)"
        ),
    )
    harness.add("hit", hit_base, hit_body, ops=CHUNK, note=hit_note)
    harness.add("hit", TTL_ROW, walk(by_ttl.get, keys), ops=CHUNK)
    harness.add(
        "hit",
        EVICT_ROW,
        walk(by_eviction.get, keys),
        ops=CHUNK,
        note=f"a {EVICTING // 1024} KB local tier",
    )
    many_base, many_body = many
    harness.group(
        "many",
        baseline=many_base,
        title=(
            f"get_many({BATCH}) over {POPULATION:,} keys shuffled, {size}-byte "
            "envelopes, none local (ns per call)"
        ),
    )
    harness.add("many", many_base, many_body)
    harness.add("many", MANY_TTL_ROW, batches(many_ttl.get_many, in_batches(keys)))
    harness.add(
        "many", MANY_EVICT_ROW, batches(many_eviction.get_many, in_batches(keys))
    )
    return [by_ttl, by_eviction, many_ttl, many_eviction]


def reader_targets(
    results: list[GroupResult], tier: str, one: str, many: str
) -> list[Target]:
    """The targets of a remote tier's readers against its raw baselines."""
    by_name = {g.name: g for g in results}
    return [
        Target(
            f"{tier} hit (tiny local TTL) / {one}",
            by_name["hit"].ratio(TTL_ROW),
            "<=",
            1.2,
        ),
        Target(
            f"{tier} hit (evicted) / {one}",
            by_name["hit"].ratio(EVICT_ROW),
            "<=",
            1.2,
        ),
        Target(
            f"get_many({BATCH}) / {many}",
            by_name["many"].ratio(MANY_TTL_ROW),
            "<=",
            1.5,
        ),
    ]


def population_title(what: str, quick: bool, rounds: int) -> str:
    """The report title of a remote tier's population run."""
    return (
        f"{what} over {POPULATION:,} keys "
        f"({'quick, ' if quick else ''}{rounds} rounds, loopback, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
    )


def redis_population_report(
    url: str | None = None, quick: bool = False, progress: bool | None = None
) -> Report:
    """Measure shared-tier hits and ``get_many(100)`` over 10,000 shuffled keys."""
    from .. import HydraCache

    started = time.perf_counter()
    url = resolve_redis_url(url)
    settings = population_settings(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = RedisSandbox(url)
    closers: list[Any] = []

    def cache(**options: Any) -> Any:
        made = HydraCache(shared=sandbox.store(), broadcast=False, **options)
        closers.append(made)
        return made

    keys = remote_keys()
    try:
        writer = cache()
        for group in in_batches(keys):
            writer.set_many(dict.fromkeys(group, VALUE), ttl=3600)
        raw = sandbox.store()
        closers.append(raw)
        client = raw.client
        value_keys = [raw.value_key(key) for key in keys]
        size = len(client.get(value_keys[0]) or b"")
        reader_list = add_reader_rows(
            harness,
            cache,
            keys,
            tier="shared-tier",
            size=size,
            hit=("redis-py GET", walk(client.get, value_keys), ""),
            many=(
                f"redis-py MGET ({BATCH} keys)",
                batches(client.mget, in_batches(value_keys)),
            ),
        )
        bar.total = harness.planned_steps()
        try:
            results = harness.run()
        finally:
            bar.close()
        local_hits = sum(r.stats().local_hits for r in reader_list)
    finally:
        close_all(closers)
        left = sandbox.remove()
    report = Report(
        title=population_title("shared tier on Redis", quick, settings.rounds),
        groups=results,
        targets=reader_targets(results, "shared-tier", "GET", "MGET"),
        notes=[
            f"each single-key body: {CHUNK} reads walking a fixed shuffled permutation",
            f"value: a 5-field user dict; {size}-byte envelope in Redis",
            f"local hits counted by the readers: {local_hits} (few: eviction only)",
            f"sandbox prefix {sandbox.prefix!r}: {left} keys left after cleanup",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report
