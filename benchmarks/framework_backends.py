"""The framework backends against the frameworks' own Redis backends (one run).

Not a ``bench_*`` family: a standalone comparison for issue 15, run by hand::

    python benchmarks/framework_backends.py --redis redis://127.0.0.1:6379/0

Two questions, each answered by interleaved rounds (one sample per backend per
round) so that the shared machine's load hits both alike:

* **Stampede**: 32 threads call one cold ``@cache.memoize`` function (20 ms)
  at once; how many times does it run? Flask-Caching's ``RedisCache`` against
  ``hydracache_sync.flask_caching.HydraCache`` (memory + Redis).
* **Warm reads**: ``cache.get`` over 10,000 distinct keys in shuffled order,
  values of ~200 bytes, already cached; ops/s of Django's ``RedisCache``
  against ``HydraCacheBackend`` (memory + Redis), and of Flask-Caching's
  ``RedisCache`` against ours, with a local tier big enough for all keys
  (best case for the local tier) and with one holding about a third of them
  (local copies go through eviction; the rest come from Redis).

Prints medians and min-max over the rounds, and the ratios per round.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

KEYS = 10_000
VALUE = {"id": 0, "name": "x" * 150, "tags": ["a", "b", "c"]}


def _flask_cache(kind: str, url: str, prefix: str, max_bytes: str) -> Any:
    from flask import Flask
    from flask_caching import Cache

    app = Flask(f"bench-{kind}-{prefix}")
    if kind == "flask-caching RedisCache":
        app.config.update(
            CACHE_TYPE="RedisCache", CACHE_REDIS_URL=url, CACHE_KEY_PREFIX=prefix
        )
    else:
        app.config.update(
            CACHE_TYPE="hydracache_sync.flask_caching.HydraCache",
            CACHE_REDIS_URL=url,
            CACHE_KEY_PREFIX=prefix,
            HYDRACACHE_PREFIX=f"hcbench:{prefix}",
            HYDRACACHE_MAX_BYTES=max_bytes,
        )
    return app, Cache(app)


def _expensive(calls: list[int]) -> Callable[[int], int]:
    """A 20 ms function recording its runs (no default arguments: they would
    enter Flask-Caching's keys)."""

    def expensive(n: int) -> int:
        calls.append(n)
        time.sleep(0.02)
        return n

    return expensive


def stampede(url: str, rounds: int) -> None:
    """Count runs of one cold memoized 20 ms function under 32 threads."""
    kinds = ["flask-caching RedisCache", "hydracache_sync"]
    runs: dict[str, list[int]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind in kinds:
            prefix = f"st{uuid.uuid4().hex[:8]}:"
            app, cache = _flask_cache(kind, url, prefix, "64MB")
            calls: list[int] = []

            memoized = cache.memoize(timeout=60)(_expensive(calls))
            barrier = threading.Barrier(32)

            def call(
                app: Any = app, memoized: Any = memoized, barrier: Any = barrier
            ) -> None:
                with app.app_context():
                    barrier.wait()
                    memoized(1)

            threads = [threading.Thread(target=call) for _ in range(32)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            runs[kind].append(len(calls))
            with app.app_context():
                cache.clear()
    print("stampede: 32 threads, one cold memoized 20 ms call; runs per round")
    for kind in kinds:
        print(f"  {kind:28} {runs[kind]}")


def _reads(get: Callable[[str], Any], keys: list[str]) -> float:
    started = time.perf_counter()
    for key in keys:
        get(key)
    return len(keys) / (time.perf_counter() - started)


def warm_reads(url: str, rounds: int) -> None:
    """ops/s of warm gets over 10,000 shuffled keys, interleaved rounds."""
    import django
    from django.conf import settings

    prefix = f"wr{uuid.uuid4().hex[:8]}:"
    settings.configure(
        SECRET_KEY=uuid.uuid4().hex * 2,
        CACHES={
            "redis": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": prefix,
            },
            "hydra": {
                "BACKEND": "hydracache_sync.django.HydraCacheBackend",
                "LOCATION": url,
                "KEY_PREFIX": prefix,
                "OPTIONS": {"PREFIX": f"hcbench:{prefix}"},
            },
            "hydra-small": {
                "BACKEND": "hydracache_sync.django.HydraCacheBackend",
                "LOCATION": url,
                "KEY_PREFIX": prefix + "s",
                "OPTIONS": {"PREFIX": f"hcbench:{prefix}s", "MAX_BYTES": "1MB"},
            },
        },
    )
    django.setup()
    from django.core.cache import caches

    keys = [f"user:{i}" for i in range(KEYS)]
    backends: dict[str, Callable[[str], Any]] = {}
    for alias in ("redis", "hydra", "hydra-small"):
        cache = caches[alias]
        cache.set_many({key: {**VALUE, "id": i} for i, key in enumerate(keys)}, 600)
        backends[f"django {alias}"] = cache.get
    for kind, max_bytes, label in (
        ("flask-caching RedisCache", "64MB", "flask-caching redis"),
        ("hydracache_sync", "64MB", "flask-caching hydra"),
        ("hydracache_sync", "1MB", "flask-caching hydra-small"),
    ):
        app, fcache = _flask_cache(kind, url, prefix + label[-5:], max_bytes)
        with app.app_context():
            for i, key in enumerate(keys):
                fcache.set(key, {**VALUE, "id": i}, timeout=600)
        backends[label] = fcache.cache.get
    samples: dict[str, list[float]] = {name: [] for name in backends}
    for round_number in range(rounds + 1):
        order = keys[:]
        random.shuffle(order)
        for name, get in backends.items():
            rate = _reads(get, order)
            if round_number:  # round 0 warms up (local copies, connections)
                samples[name].append(rate)
    print(
        f"warm reads: {KEYS} shuffled keys, ops/s median (min-max) over {rounds}"
        " (after a warm-up round)"
    )
    for name, values in samples.items():
        print(
            f"  {name:28} {statistics.median(values):>10,.0f}"
            f"  ({min(values):,.0f}-{max(values):,.0f})"
        )
    for framework, peer in (
        ("django", "django redis"),
        ("flask", "flask-caching redis"),
    ):
        for name in samples:
            if name.startswith(framework) and name != peer:
                ratios = [
                    a / b for a, b in zip(samples[name], samples[peer], strict=True)
                ]
                print(f"  {name} / {peer}: {min(ratios):.1f}x-{max(ratios):.1f}x")
    caches["redis"].clear()
    caches["hydra"].clear()
    caches["hydra-small"].clear()


def main() -> None:
    """Parse the options and run both comparisons."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stampede(args.redis, args.rounds)
    warm_reads(args.redis, args.rounds)


if __name__ == "__main__":
    main()
