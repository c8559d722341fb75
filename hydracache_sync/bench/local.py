"""The local-tier scenarios: HydraCache against cachetools, dogpile.cache, lru_cache.

Rows: get hit, set with eviction, get_or_load hit, 32 threads on one cold key,
and 8-thread hit throughput, with the issue's targets marked PASS/MISS. The
peers are imported inside the scenario setups; a missing peer turns its rows
into "skipped" notes, never an error. ``VALUE``, ``KEYS``, ``HIT_KEYS`` and
:func:`hydra_get` are shared with the tier scenarios.
"""

from __future__ import annotations

import functools
import itertools
import os
import platform
import threading
import time
from collections.abc import Iterable
from typing import Any

from .display import Progress
from .harness import (
    Body,
    Harness,
    Settings,
    Setup,
    compile_loop,
    measure_scaling,
    scaling_steps,
)
from .report import Count, Report, Target

__all__ = ["HIT_KEYS", "HIT_OPS", "KEYS", "VALUE", "hydra_get", "local_report"]

VALUE: dict[str, Any] = {
    "id": 42,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "roles": ["admin", "editor"],
    "active": True,
}
"""A realistic small value: what a service caches for a user record."""

HIT_OPS = 20  # operations inlined per body call for the read rows
SET_OPS = 10
KEYS = [f"user:{n}" for n in range(1000)]
HIT_KEYS = {f"k{i}": KEYS[i * 37 % len(KEYS)] for i in range(HIT_OPS)}
_SET_MAXSIZE = 45  # entries of VALUE held: every set of a new key evicts
_SET_KEYS = 8192  # keys cycle long after they were evicted, so each set is new


def _loader() -> dict[str, Any]:
    return VALUE


def hydra_get() -> Body:
    from .. import HydraCache

    cache = HydraCache.local(default_ttl=300)
    for key in KEYS:
        cache.set(key, VALUE)
    return compile_loop("cache.get(k{i})", HIT_OPS, cache=cache, **HIT_KEYS)


def _hydra_get_or_load() -> Body:
    from .. import HydraCache

    cache = HydraCache.local(default_ttl=300)
    for key in KEYS:
        cache.set(key, VALUE)
    return compile_loop(
        "cache.get_or_load(k{i}, loader)",
        HIT_OPS,
        cache=cache,
        loader=_loader,
        **HIT_KEYS,
    )


def _locked(ttl: bool) -> Body:
    from cachetools import LRUCache, TTLCache

    cache: LRUCache[str, Any] | TTLCache[str, Any] = (
        TTLCache(10_000, ttl=300) if ttl else LRUCache(maxsize=10_000)
    )
    for key in KEYS:
        cache[key] = VALUE
    stmt = "with lock:\n    cache.get(k{i})"
    return compile_loop(stmt, HIT_OPS, cache=cache, lock=threading.Lock(), **HIT_KEYS)


def _dogpile_get() -> Body:
    from dogpile.cache import make_region

    region = make_region().configure("dogpile.cache.memory")
    for key in KEYS:
        region.set(key, VALUE)
    return compile_loop("region.get(k{i})", HIT_OPS, region=region, **HIT_KEYS)


def _lru_cache_get() -> Body:
    import functools

    @functools.cache  # lru_cache(maxsize=None): the unbounded, fastest form
    def load(key: str) -> dict[str, Any]:
        return VALUE

    for key in KEYS:
        load(key)
    return compile_loop("load(k{i})", HIT_OPS, load=load, **HIT_KEYS)


def _set_keys() -> Iterable[str]:
    return itertools.cycle([f"item:{n}" for n in range(_SET_KEYS)])


def _set_max_bytes() -> int:
    """Return max_bytes for _SET_MAXSIZE entries of VALUE, as the tier charges them."""
    from .. import HydraCache

    probe = HydraCache.local(default_ttl=300)
    probe.set(f"item:{_SET_KEYS // 2}", VALUE)
    return probe.local_store.size * _SET_MAXSIZE


def _hydra_set(keyword_ttl: bool = False) -> Body:
    from .. import HydraCache

    cache = HydraCache.local(
        max_bytes=_set_max_bytes(), default_ttl=None if keyword_ttl else 300
    )
    ttl = ", ttl=300" if keyword_ttl else ""
    return compile_loop(
        f"cache.set(next(keys), value{ttl})",
        SET_OPS,
        cache=cache,
        keys=iter(_set_keys()),
        value=VALUE,
    )


def _ttl_set() -> Body:
    from cachetools import TTLCache

    cache: TTLCache[str, Any] = TTLCache(maxsize=_SET_MAXSIZE, ttl=300)
    stmt = "with lock:\n    cache[next(keys)] = value"
    return compile_loop(
        stmt,
        SET_OPS,
        cache=cache,
        lock=threading.Lock(),
        keys=iter(_set_keys()),
        value=VALUE,
    )


def _stampede_once(cache: Any, key: str, threads: int) -> tuple[int, int, int]:
    """Return loader runs, joins and callers served for one cold ``key``."""
    runs: list[int] = []
    results: list[object] = []
    barrier = threading.Barrier(threads)

    def load() -> dict[str, Any]:
        runs.append(1)
        time.sleep(0.05)  # a slow query: every other caller arrives meanwhile
        return dict(VALUE)

    def call() -> None:
        barrier.wait()
        results.append(cache.get_or_load(key, load))

    joins_before = cache.stats().joins
    workers = [threading.Thread(target=call) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    first = results[0] if results else None
    served = sum(1 for result in results if result is first)
    return len(runs), cache.stats().joins - joins_before, served


def _stampede(threads: int, trials: int) -> tuple[list[int], list[int], list[int]]:
    """Return per-trial loader runs, joins and callers served the loaded value."""
    from .. import HydraCache

    cache = HydraCache.local(default_ttl=300)
    outcomes = [_stampede_once(cache, f"cold:{t}", threads) for t in range(trials)]
    runs, joins, served = (list(column) for column in zip(*outcomes, strict=True))
    return runs, joins, served


def peer_reason(module: str) -> str | None:
    """Return why a peer cannot be benchmarked here, or None when importable."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"{module} not installed"


def local_report(
    quick: bool = False, progress: bool | None = None, threads: int = 8
) -> Report:
    """Measure the local tier against its peers; return the report.

    Args:
        quick: About 10 s instead of about 40 s.
        progress: Progress bar: ``None`` only on a TTY, ``True`` forced,
            ``False`` off.
        threads: Thread count for the scaling comparison.
    """
    started = time.perf_counter()
    settings = Settings.for_run(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    cachetools_missing = peer_reason("cachetools")
    dogpile_missing = peer_reason("dogpile.cache")

    get_base = "LRUCache + Lock"
    harness.group(
        "get",
        baseline=get_base,
        title=f"get hit: {HIT_OPS} str keys, small-dict value (ns per get)",
    )
    harness.add("get", "HydraCache.get", setup=hydra_get, ops=HIT_OPS)
    for name, ttl in ((get_base, False), ("TTLCache + Lock", True)):
        if cachetools_missing:
            harness.skip("get", name, cachetools_missing)
        else:
            harness.add(
                "get",
                name,
                setup=functools.partial(_locked, ttl),
                ops=HIT_OPS,
                note="cachetools, threading.Lock",
            )
    if dogpile_missing:
        harness.skip("get", "dogpile memory region.get", dogpile_missing)
    else:
        harness.add("get", "dogpile memory region.get", setup=_dogpile_get, ops=HIT_OPS)
    harness.add(
        "get",
        "functools.lru_cache",
        setup=_lru_cache_get,
        ops=HIT_OPS,
        note="maxsize=None: the floor",
    )

    set_base = "TTLCache + Lock set"
    harness.group(
        "set",
        baseline=set_base,
        title="set of a new key, every set evicts one entry (ns per set)",
    )
    harness.add(
        "set",
        "HydraCache.set",
        setup=_hydra_set,
        ops=SET_OPS,
        note=f"max_bytes={_set_max_bytes()} ({_SET_MAXSIZE} entries), default_ttl=300",
    )
    harness.add(
        "set",
        "HydraCache.set(ttl=300)",
        setup=functools.partial(_hydra_set, keyword_ttl=True),
        ops=SET_OPS,
        note="per-call keyword option",
    )
    if cachetools_missing:
        harness.skip("set", set_base, cachetools_missing)
    else:
        harness.add(
            "set",
            set_base,
            setup=_ttl_set,
            ops=SET_OPS,
            note=f"maxsize={_SET_MAXSIZE}, ttl=300",
        )

    harness.group(
        "get_or_load",
        baseline="HydraCache.get",
        title="get_or_load hit against get hit (ns per call)",
    )
    harness.add("get_or_load", "HydraCache.get", setup=hydra_get, ops=HIT_OPS)
    harness.add(
        "get_or_load",
        "HydraCache.get_or_load",
        setup=_hydra_get_or_load,
        ops=HIT_OPS,
    )

    scaling_rows: list[tuple[str, Setup | None, int, str | None]] = [
        ("HydraCache.get", hydra_get, HIT_OPS, None),
        (get_base, functools.partial(_locked, False), HIT_OPS, cachetools_missing),
        ("dogpile memory region.get", _dogpile_get, HIT_OPS, dogpile_missing),
        ("functools.lru_cache", _lru_cache_get, HIT_OPS, None),
    ]
    bar.total = (
        harness.planned_steps()
        + scaling_steps(len(scaling_rows), settings)
        + settings.trials
    )
    try:
        groups = harness.run()
        scaling = measure_scaling(
            scaling_rows, threads=threads, settings=settings, progress=bar
        )
        stampede_threads = 32
        bar.advance("32 threads, one cold key", steps=0)
        runs, joins, served = _stampede(stampede_threads, settings.trials)
        bar.advance(steps=settings.trials)
    finally:
        bar.close()

    by_name = {g.name: g for g in groups}
    hydra_scaling = next(s for s in scaling if s.name == "HydraCache.get")
    report = Report(
        title=(
            "hydracache_sync local tier "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        scaling=scaling,
        scaling_title=f"get-hit throughput, {threads} threads against 1 (aggregate)",
        counts=[
            Count("loader runs", tuple(runs), 1),
            Count("joins (waited on the leader)", tuple(joins), stampede_threads - 1),
            Count(
                "callers served the loaded value",
                tuple(served),
                stampede_threads,
            ),
        ],
        counts_title=f"{stampede_threads} threads, one cold key, get_or_load",
        targets=[
            Target(
                f"get hit / {get_base}",
                by_name["get"].ratio("HydraCache.get"),
                "<=",
                0.8,
            ),
            Target(
                f"{threads}-thread / 1-thread get-hit throughput",
                hydra_scaling.ratio,
                ">=",
                0.8,
            ),
            Target(
                f"set / {set_base}",
                by_name["set"].ratio("HydraCache.set"),
                "<=",
                1.0,
            ),
            Target(
                "get_or_load hit / get hit",
                by_name["get_or_load"].ratio("HydraCache.get_or_load"),
                "<=",
                1.2,
            ),
            Target(
                f"loader runs for {stampede_threads} threads (worst trial)",
                float(max(runs)),
                "==",
                1,
                unit="",
            ),
        ],
        notes=[
            "ratios are medians of per-round ratios (rows interleaved per round)",
            "p25/p75: spread of the per-round samples",
        ],
    )
    if cachetools_missing or dogpile_missing:
        report.notes.append(
            "peers missing: pip install 'hydracache_sync[dev]' to compare with them"
        )
    report.seconds = time.perf_counter() - started
    return report
