"""``@hydra_cache`` hit path against cachetools, dogpile.cache and functools.lru_cache.

Every row memoizes the same function and calls it, in a loop of 20 inlined
calls, with 20 distinct arguments that are all cached (hits only):

- ``@hydra_cache(cache=HydraCache.local(), ttl=300)``: keys stable across
  processes (a digest of the bound arguments), remembered per argument tuple;
- ``cachetools.cached(TTLCache(...), lock=threading.Lock())``: the baseline;
- dogpile.cache ``region.cache_on_arguments()`` on the memory backend;
- ``functools.lru_cache(maxsize=None)``: the floor (no TTL, no lock, C).

Rows of a group are interleaved round by round (``benchmarks/_harness.py``);
ratios are medians of per-round ratios against the cachetools row.

    python benchmarks/bench_decorator.py [--quick] [--json FILE] [--check]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import threading
import time
from typing import Any

from _harness import (
    Body,
    Count,
    Harness,
    Progress,
    Report,
    Settings,
    Target,
    bench_main,
    compile_loop,
)

OPS = 20
BASELINE = "cachetools @cached(TTLCache, Lock)"
_INTS = {f"a{i}": 1000 + i * 7 for i in range(OPS)}
_NAMES = {f"n{i}": f"user-{i}" for i in range(OPS)}


def _work(x: Any, y: Any = 0) -> tuple[Any, Any]:
    return (x, y)


def _one_arg(decorate: Any) -> Body:
    """A body calling the decorated function with one int argument (all hits)."""
    function = decorate(lambda x: _work(x), keywords=False)
    for value in _INTS.values():
        function(value)
    return compile_loop("f(a{i})", OPS, f=function, **_INTS)


def _keyword(decorate: Any) -> Body:
    """A body calling with a str positional and an int keyword (all hits)."""
    function = decorate(lambda name, n=0: _work(name, n), keywords=True)
    for index in range(OPS):
        function(_NAMES[f"n{index}"], n=index)
    return compile_loop("f(n{i}, n={i})", OPS, f=function, **_NAMES)


def _hydra(func: Any, keywords: bool) -> Any:
    from hydracache_sync import HydraCache, hydra_cache

    cache = HydraCache.local(default_ttl=300)
    return hydra_cache(cache=cache, ttl=300)(func)


def _cachetools(func: Any, keywords: bool) -> Any:
    from cachetools import TTLCache, cached

    return cached(TTLCache(maxsize=10_000, ttl=300), lock=threading.Lock())(func)


def _dogpile(func: Any, keywords: bool) -> Any:
    from dogpile.cache import make_region
    from dogpile.cache.util import kwarg_function_key_generator

    region = make_region().configure("dogpile.cache.memory", expiration_time=300)
    if keywords:  # its default key generator refuses keyword arguments
        return region.cache_on_arguments(
            function_key_generator=kwarg_function_key_generator
        )(func)
    return region.cache_on_arguments()(func)


def _lru(func: Any, keywords: bool) -> Any:
    return functools.lru_cache(maxsize=None)(func)


_ROWS = (
    ("@hydra_cache", _hydra, "stable keys, TTL, single-flight"),
    (BASELINE, _cachetools, "maxsize=10000, ttl=300"),
    ("dogpile cache_on_arguments", _dogpile, "memory backend"),
    ("functools.lru_cache", _lru, "maxsize=None: the floor"),
)


def _stampede(threads: int) -> tuple[int, int]:
    """Return (loader runs, callers served) for ``threads`` threads on one miss."""
    from hydracache_sync import HydraCache, hydra_cache

    runs = [0]
    gate = threading.Barrier(threads)

    @hydra_cache(cache=HydraCache.local())
    def slow(x: int) -> int:
        runs[0] += 1
        time.sleep(0.05)
        return x * 2

    served: list[int] = []

    def worker() -> None:
        gate.wait()
        served.append(slow(21))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return runs[0], sum(1 for value in served if value == 42)


def run(args: argparse.Namespace) -> Report:
    """Measure the decorators; return the report."""
    started = time.perf_counter()
    settings = Settings.for_run(args.quick)
    bar = Progress(enabled=args.progress)
    harness = Harness(settings, bar)
    for group, body, title in (
        ("one int", _one_arg, "hit: f(x), one int argument (ns per call)"),
        ("str + keyword", _keyword, "hit: f(name, n=i), keyword spelling (ns/call)"),
    ):
        harness.group(group, baseline=BASELINE, title=title)
        for name, decorate, note in _ROWS:
            harness.add(
                group,
                name,
                setup=functools.partial(body, decorate),
                ops=OPS,
                note=note,
            )
    bar.total = harness.planned_steps()
    try:
        groups = harness.run()
    finally:
        bar.close()
    runs, served = _stampede(32)
    by_name = {group.name: group for group in groups}
    report = Report(
        title=(
            "@hydra_cache hit path "
            f"({'quick, ' if args.quick else ''}{settings.rounds} rounds, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        counts=[
            Count("loader runs", (runs,), 1),
            Count("callers served the value", (served,), 32),
        ],
        counts_title="32 threads, one cold call",
        targets=[
            Target(
                f"@hydra_cache hit / {BASELINE} (one int)",
                by_name["one int"].ratio("@hydra_cache"),
                "<=",
                1.0,
            ),
            Target(
                f"@hydra_cache hit / {BASELINE} (keyword)",
                by_name["str + keyword"].ratio("@hydra_cache"),
                "<=",
                1.0,
            ),
            Target("loader runs for 32 threads", float(runs), "==", 1, unit=""),
        ],
        notes=[
            "ratios are medians of per-round ratios (rows interleaved per round)",
            "@hydra_cache keys are stable across processes; the others' are not",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
