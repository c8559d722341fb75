"""Realistic populations for ``@hydra_cache``: hits over many distinct arguments.

Rows of a group are interleaved per round (ratios: medians of per-round
ratios against the group's baseline). Every body walks a fixed shuffled
permutation of its population, :data:`CHUNK` calls per body call, resuming
where the last call stopped: every row of a group calls with the same
arguments in the same order, and the walk itself (about 30 ns a call) is in
every row alike. The one-argument group is the best case, labelled so.

The helpers here (:func:`walk`, :func:`batches`, :func:`shuffled`) also drive
the remote families (``redis_populations``, ``postgres_populations``).
"""

from __future__ import annotations

import functools
import os
import platform
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .display import Progress
from .harness import Body, Harness, Settings
from .report import Report, Target

__all__ = [
    "CHUNK",
    "batches",
    "decorator_population_report",
    "population_settings",
    "shuffled",
    "walk",
]

CHUNK = 100  # calls per body call
POPULATIONS = (10_000, 100_000)
COLD_POPULATION = 100_000
BASELINE = "cachetools @cached(TTLCache, RLock)"


def population_settings(quick: bool) -> Settings:
    """Rounds and sample length for the population families."""
    if quick:
        return Settings(rounds=5, warmup=1, sample_time=0.04)
    return Settings(rounds=11, warmup=1, sample_time=0.08)


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


def _work(x: Any) -> tuple[Any]:
    return (x,)


def _hydra(population: Sequence[Any]) -> Body:
    from .. import HydraCache, hydra_cache

    cache = HydraCache.local(max_bytes="1GB", default_ttl=3600)
    function = hydra_cache(cache=cache, ttl=3600)(_work)
    for x in population:
        function(x)
    if cache.stats().evictions:
        raise RuntimeError("the local tier evicted: the rows would not be hits")
    return walk(function, population)


def _cachetools(population: Sequence[Any]) -> Body:
    from cachetools import TTLCache, cached

    cache: TTLCache[Any, Any] = TTLCache(maxsize=len(population) + 1000, ttl=3600)
    function = cached(cache, lock=threading.RLock())(_work)
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

    from .._keys import ArgumentKeys

    keys = ArgumentKeys(inspect.signature(_work), qualname="_work")

    def build(x: Any) -> str:
        return "bench._work:" + keys.digest((x,), {})

    return walk(build, population)


def decorator_population_report(
    quick: bool = False, progress: bool | None = None
) -> Report:
    """Measure ``@hydra_cache`` hits over 1, 10,000 and 100,000 distinct arguments.

    Against cachetools ``@cached(TTLCache, RLock)`` (maxsize above the
    population, so every call is a hit there too) and ``functools.lru_cache``
    (the floor), plus the cold key build of one ``int`` argument (the digest
    alone, never remembered).
    """
    started = time.perf_counter()
    settings = population_settings(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    groups: list[tuple[str, str]] = [("best", "best case: 1 argument value")]
    groups += [(f"{n}", f"{n:,} distinct int arguments, shuffled") for n in POPULATIONS]
    for name, label in groups:
        population = [7] * CHUNK if name == "best" else shuffled(range(int(name)))
        harness.group(
            name, baseline=BASELINE, title=f"@hydra_cache hit, {label} (ns per call)"
        )
        harness.add(
            name,
            "@hydra_cache",
            setup=functools.partial(_hydra, population),
            ops=CHUNK,
            note="HydraCache.local(), ttl=3600",
        )
        harness.add(
            name,
            BASELINE,
            setup=functools.partial(_cachetools, population),
            ops=CHUNK,
            note="maxsize above the population, ttl=3600",
        )
        harness.add(
            name,
            "functools.lru_cache",
            setup=functools.partial(_lru, population),
            ops=CHUNK,
            note="the floor: no TTL, no lock, C",
        )
    harness.group("cold", title="cold key build: one int argument (ns per key)")
    harness.add(
        "cold",
        "ArgumentKeys.digest",
        setup=functools.partial(_cold_keys, shuffled(range(COLD_POPULATION))),
        ops=CHUNK,
        note=f"{COLD_POPULATION:,} distinct ints, never remembered",
    )
    bar.total = harness.planned_steps()
    try:
        results = harness.run()
    finally:
        bar.close()
    by_name = {g.name: g for g in results}
    targets = [
        Target(
            f"hit over {label} / cachetools",
            by_name[name].ratio("@hydra_cache"),
            "<=",
            1.0,
        )
        for name, label in groups
    ]
    targets.append(
        Target(
            "cold key build, one int (ns)",
            by_name["cold"].row("ArgumentKeys.digest").median_ns,
            "<=",
            1500,
            unit="ns",
        )
    )
    report = Report(
        title=(
            "@hydra_cache over realistic populations "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=results,
        targets=targets,
        notes=[
            f"each body: {CHUNK} calls walking a fixed shuffled permutation",
            "ratios: medians of per-round ratios (rows interleaved per round)",
            "the 1-argument group is the best case (one memo entry, one local entry)",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report
