"""The coherence scenarios: processes sharing one Redis (visibility, lock, listener)."""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Sequence
from typing import Any

from .display import Progress
from .harness import Body, Harness, compile_loop
from .local import HIT_KEYS, HIT_OPS, KEYS, VALUE
from .processes import LOADER_CHILD, VISIBILITY_CHILD, Child
from .report import Count, GroupResult, Report, Row, Target
from .servers import (
    RedisSandbox,
    close_all,
    closing,
    resolve_redis_url,
    tier_settings,
    wait_listening,
)

__all__ = ["coherence_report"]


def _visibility(
    children: Sequence[Child], writer: Any, rounds: int
) -> tuple[list[list[float]], int]:
    """Return per-child latencies (s) from invalidate_tag to a worker's miss.

    Also returns how many loads found no local copy to invalidate.
    """
    latencies: list[list[float]] = [[] for _ in children]
    uncached = 0
    for r in range(rounds):
        writer.set("k", f"v{r}", tags=["t"])
        for child in children:
            child.send("go")
        for child in children:
            had_old, local = json.loads(child.expect("loaded"))
            if not had_old:
                raise RuntimeError("a worker did not read the value just written")
            uncached += not local
        started = time.time()
        writer.invalidate_tag("t")
        for index, child in enumerate(children):
            seen = json.loads(child.expect("seen"))
            latencies[index].append(seen - started)
    return latencies, uncached


def _loader_trials(
    children: Sequence[Child], client: Any, prefix: str, trials: int
) -> dict[str, list[tuple[int, int]]]:
    """Return, per mode, (loader runs, callers served) for one cold key per trial."""
    outcomes: dict[str, list[tuple[int, int]]] = {"none": [], "redis": []}
    for trial in range(trials):
        for mode in ("none", "redis"):
            key = f"cold:{mode}:{trial}"
            for child in children:
                child.send(f"{key} {mode}")
            served = sum(
                json.loads(child.expect("done", 30))["served"] for child in children
            )
            runs = int(client.get(prefix + "runs:" + key) or 0)
            outcomes[mode].append((runs, served))
    return outcomes


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    return ordered[int(fraction * (len(ordered) - 1))]


def coherence_report(
    url: str | None = None,
    quick: bool = False,
    progress: bool | None = None,
    *,
    workers: int = 2,
    lock_processes: int = 4,
    lock_threads: int = 8,
    loader_delay: float = 0.3,
) -> Report:
    """Measure coherence across processes sharing one Redis.

    Invalidation visibility (``workers`` processes, 50 rounds, 20 quick),
    loader runs for one cold key from ``lock_processes`` x ``lock_threads``
    callers with and without ``lock="redis"``, and the local-hit cost of the
    invalidation listener.

    Args:
        url: The server (default: :func:`resolve_redis_url`).
        quick: Fewer rounds and trials.
        progress: Progress bar: ``None`` only on a TTY.
    """
    from .. import HydraCache, TierTTLs

    started = time.perf_counter()
    url = resolve_redis_url(url)
    settings = tier_settings(quick)
    rounds = 20 if quick else 50
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = RedisSandbox(url)
    closers: list[Any] = []
    children: list[Child] = []
    try:
        writer = closing(closers, HydraCache(shared=sandbox.store()))
        wait_listening(writer)
        admin = closing(closers, sandbox.store())
        watchers = [
            Child(VISIBILITY_CHILD, url, sandbox.prefix, str(rounds))
            for _ in range(workers)
        ]
        loaders = [
            Child(
                LOADER_CHILD,
                url,
                sandbox.prefix,
                str(lock_threads),
                str(loader_delay),
            )
            for _ in range(lock_processes)
        ]
        children = watchers + loaders
        for child in watchers:
            if child.expect("ready") != "True":
                raise RuntimeError("a worker's invalidation listener did not subscribe")
        for child in loaders:
            child.expect("ready")

        def hit_cache(broadcast: bool) -> Body:
            cache = closing(
                closers,
                HydraCache(
                    shared=sandbox.store(),
                    default_ttl=300,
                    promotion=TierTTLs(local=300),
                    broadcast=broadcast,
                ),
            )
            if broadcast:
                wait_listening(cache)
            for key in KEYS:
                cache.set(key, VALUE)
            if not all(key in cache.local_store.entries for key in KEYS):
                raise RuntimeError("no local copies to hit")
            return compile_loop("cache.get(k{i})", HIT_OPS, cache=cache, **HIT_KEYS)

        hit_base = "broadcast=False"
        harness.group(
            "hit",
            baseline=hit_base,
            title=(
                f"local hit with and without the invalidation listener: {HIT_OPS} "
                "keys (ns per get)"
            ),
        )
        harness.add(
            "hit",
            hit_base,
            setup=functools.partial(hit_cache, False),
            ops=HIT_OPS,
            note="HydraCache(shared=RedisStore, broadcast=False)",
        )
        harness.add(
            "hit",
            "broadcast=True, listener running",
            setup=functools.partial(hit_cache, True),
            ops=HIT_OPS,
            note="the default: a thread subscribed to the channel",
        )
        bar.total = rounds + 2 * settings.trials + harness.planned_steps()
        try:
            bar.advance("invalidation visibility", steps=0)
            latencies, uncached = _visibility(watchers, writer, rounds)
            bar.advance(steps=rounds)
            bar.advance(f"{lock_processes} processes, one cold key", steps=0)
            outcomes = _loader_trials(
                loaders, admin.client, sandbox.prefix, settings.trials
            )
            bar.advance(steps=2 * settings.trials)
            for child in children:
                child.close()
            children = []
            groups = harness.run()
        finally:
            bar.close()
    finally:
        for child in children:
            child.close()
        close_all(closers)
        left = sandbox.remove()

    def latency_row(name: str, seconds: Sequence[float]) -> Row:
        return Row(name, "visibility", 1, tuple(s * 1e9 for s in seconds))

    every = sorted(s for per_child in latencies for s in per_child)
    p50, p99 = _percentile(every, 0.5), _percentile(every, 0.99)
    visibility = GroupResult(
        "visibility",
        (
            f"invalidation visibility: invalidate_tag in this process until "
            f"{workers} worker processes miss ({rounds} rounds, ns)"
        ),
        None,
        (
            *(
                latency_row(f"worker {index + 1}", per_child)
                for index, per_child in enumerate(latencies)
            ),
            latency_row("all workers", every),
        ),
    )
    callers = lock_processes * lock_threads
    no_lock = outcomes["none"]
    locked = outcomes["redis"]
    hit_group = groups[0]
    report = Report(
        title=(
            "hydracache_sync coherence across processes on Redis "
            f"({'quick, ' if quick else ''}loopback, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=[visibility, *groups],
        counts=[
            Count("loader runs, no lock", tuple(r for r, _ in no_lock), lock_processes),
            Count("loader runs, lock='redis'", tuple(r for r, _ in locked), 1),
            Count(
                "callers served the value, no lock",
                tuple(s for _, s in no_lock),
                callers,
            ),
            Count(
                "callers served the value, lock='redis'",
                tuple(s for _, s in locked),
                callers,
            ),
        ],
        counts_title=(
            f"one cold key from {lock_processes} processes x {lock_threads} threads, "
            f"loader sleeps {loader_delay:g} s (per trial)"
        ),
        targets=[
            Target(
                f"visibility p99 ({len(every)} samples)",
                round(p99 * 1000, 2),
                "<=",
                50.0,
                unit=" ms",
            ),
            Target(
                "loader runs with lock='redis' (worst trial)",
                float(max(r for r, _ in locked)),
                "==",
                1,
                unit="",
            ),
            Target(
                "loader runs without a lock (worst trial; one per process)",
                float(max(r for r, _ in no_lock)),
                "<=",
                lock_processes,
                unit="",
            ),
            Target(
                f"hit with listener / {hit_base}",
                hit_group.ratio("broadcast=True, listener running"),
                "<=",
                1.05,
            ),
        ],
        notes=[
            f"visibility p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max "
            f"{every[-1] * 1000:.2f} ms; workers poll every 0.5 ms; "
            f"{uncached} of {rounds * workers} loads held no local copy",
            "visibility: clocks are time.time() of one machine; each worker holds "
            "a promoted local copy (TierTTLs(local=60)) that only the broadcast "
            "can drop",
            f"sandbox prefix {sandbox.prefix!r}: {left} keys left after cleanup",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report
