"""The shared-tier scenarios on Redis: HydraCache against redis-py and dogpile.cache."""

from __future__ import annotations

import functools
import os
import platform
import time
from typing import Any

from .display import Progress
from .harness import Body, Harness, compile_loop
from .local import HIT_KEYS, HIT_OPS, KEYS, VALUE, hydra_get, peer_reason
from .report import Report, Target
from .servers import (
    BATCH_KEYS,
    GONE,
    TIER_KEYS,
    TIER_NAMES,
    TIER_OPS,
    RedisSandbox,
    close_all,
    closing,
    hits_note,
    resolve_redis_url,
    tier_settings,
    wait_listening,
)

__all__ = ["redis_report"]


def redis_report(
    url: str | None = None, quick: bool = False, progress: bool | None = None
) -> Report:
    """Measure the shared tier on Redis against redis-py and dogpile.cache.

    Groups: a shared-tier hit (local miss, GET, decode, promotion) against a
    raw ``GET`` of the same bytes on the same client; ``get_many`` of 100
    keys against one raw ``MGET``; a local hit in a cache with Redis and its
    listener against a memory-only cache.

    Args:
        url: The server (default: :func:`resolve_redis_url`).
        quick: Fewer, shorter rounds.
        progress: Progress bar: ``None`` only on a TTY.
    """
    from .. import HydraCache, TierTTLs

    started = time.perf_counter()
    url = resolve_redis_url(url)
    settings = tier_settings(quick)
    bar = Progress(enabled=progress)
    harness = Harness(settings, bar)
    sandbox = RedisSandbox(url)
    caches: list[Any] = []
    dogpile_missing = peer_reason("dogpile.cache")
    keys = list(TIER_KEYS)
    try:
        writer = closing(caches, HydraCache(shared=sandbox.store(), broadcast=False))
        writer.set_many(dict.fromkeys(keys, VALUE), ttl=3600)
        raw_store = sandbox.store()
        caches.append(raw_store)
        client = raw_store.client
        value_keys = [raw_store.value_key(key) for key in keys]
        v_names = {f"k{i}": value_keys[i] for i in range(TIER_OPS)}
        if any(client.get(k) is None for k in value_keys):
            raise RuntimeError("the benchmark keys did not reach Redis")

        # A cache with the default configuration (listener running), whose
        # local copies never survive until their next read.
        reader = closing(
            caches,
            HydraCache(shared=sandbox.store(), promotion=TierTTLs(local=GONE)),
        )
        wait_listening(reader)

        def dogpile_region() -> Any:
            from dogpile.cache import make_region

            region = make_region(key_mangler=lambda key: sandbox.prefix + "dp:" + key)
            region.configure(
                "dogpile.cache.redis",
                arguments={"url": url, "redis_expiration_time": 3600},
            )
            for key in keys:
                region.set(key, VALUE)
            return region

        hit_base = "redis-py GET"
        harness.group(
            "shared",
            baseline=hit_base,
            title=(
                f"shared-tier hit: {TIER_OPS} keys, local miss + Redis GET + decode "
                "+ promotion (ns per read)"
            ),
        )
        harness.add(
            "shared",
            hit_base,
            compile_loop("get(k{i})", TIER_OPS, get=client.get, **v_names),
            ops=TIER_OPS,
            note="the same envelope bytes, through the store's own client",
        )
        harness.add(
            "shared",
            "HydraCache.get",
            compile_loop("cache.get(k{i})", TIER_OPS, cache=reader, **TIER_NAMES),
            ops=TIER_OPS,
            note="TierTTLs(local=1us): every read finds its promoted copy expired",
        )
        if dogpile_missing:
            harness.skip("shared", "dogpile redis region.get", dogpile_missing)
        else:
            harness.add(
                "shared",
                "dogpile redis region.get",
                setup=lambda: compile_loop(
                    "region.get(k{i})",
                    TIER_OPS,
                    region=dogpile_region(),
                    **TIER_NAMES,
                ),
                ops=TIER_OPS,
                note="dogpile.cache.redis: GET + pickle, no local tier",
            )

        many_base = f"redis-py MGET ({BATCH_KEYS} keys)"
        harness.group(
            "many",
            baseline=many_base,
            title=(
                f"get_many of {BATCH_KEYS} keys, all in Redis, none local (ns per call)"
            ),
        )
        harness.add(
            "many",
            many_base,
            functools.partial(client.mget, value_keys),
            note="one MGET of the value keys",
        )
        harness.add(
            "many",
            f"HydraCache.get_many ({BATCH_KEYS} keys)",
            functools.partial(reader.get_many, keys),
            note="every key: local miss, MGET, decode, promotion",
        )
        if dogpile_missing:
            harness.skip("many", "dogpile redis region.get_multi", dogpile_missing)
        else:
            harness.add(
                "many",
                "dogpile redis region.get_multi",
                setup=lambda: functools.partial(dogpile_region().get_multi, keys),
                note="MGET + pickle",
            )

        def redis_backed() -> Body:
            cache = closing(
                caches,
                HydraCache(
                    shared=sandbox.store(),
                    default_ttl=300,
                    promotion=TierTTLs(local=300),
                ),
            )
            wait_listening(cache)
            for key in KEYS:
                cache.set(key, VALUE)
            if not all(key in cache.local_store.entries for key in KEYS):
                raise RuntimeError("no local copies: the listener is not subscribed")
            return compile_loop("cache.get(k{i})", HIT_OPS, cache=cache, **HIT_KEYS)

        local_base = "memory-only HydraCache.get"
        harness.group(
            "local",
            baseline=local_base,
            title=f"local hit: {HIT_OPS} keys, small-dict value (ns per get)",
        )
        harness.add(
            "local",
            local_base,
            setup=hydra_get,
            ops=HIT_OPS,
            note="HydraCache.local(default_ttl=300)",
        )
        harness.add(
            "local",
            "HydraCache.get, Redis tier + listener",
            setup=redis_backed,
            ops=HIT_OPS,
            note="shared=RedisStore, broadcast on, local copies of Redis entries",
        )

        bar.total = harness.planned_steps()
        try:
            groups = harness.run()
        finally:
            bar.close()
        reader_stats = reader.stats()
    finally:
        close_all(caches)
        left = sandbox.remove()

    by_name = {g.name: g for g in groups}
    report = Report(
        title=(
            "hydracache_sync shared tier on Redis "
            f"({'quick, ' if quick else ''}{settings.rounds} rounds, loopback, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs)"
        ),
        groups=groups,
        targets=[
            Target(
                f"shared-tier hit / {hit_base}",
                by_name["shared"].ratio("HydraCache.get"),
                "<=",
                1.1,
            ),
            Target(
                f"get_many({BATCH_KEYS}) / MGET",
                by_name["many"].ratio(f"HydraCache.get_many ({BATCH_KEYS} keys)"),
                "<=",
                1.2,
            ),
            Target(
                "local hit with Redis + listener / memory-only",
                by_name["local"].ratio("HydraCache.get, Redis tier + listener"),
                "<=",
                1.1,
            ),
        ],
        notes=[
            "ratios are medians of per-round ratios (rows interleaved per round)",
            "shared-tier rows: promotion=TierTTLs(local=1us), so each read's local "
            "copy is expired by its next read: the read pays the local lookup and "
            "the drop of the dead copy, GET, unpack + CBOR decode and the "
            "promotion (local put under the lock); "
            + hits_note(reader_stats, "shared_hits"),
            f"sandbox prefix {sandbox.prefix!r}: {left} keys left after cleanup",
        ],
    )
    report.seconds = time.perf_counter() - started
    return report
