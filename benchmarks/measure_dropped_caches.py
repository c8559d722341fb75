"""Resources held after caches are dropped without close(): threads, fds, clients.

Builds N caches (default 1,000) over Redis, uses each once and drops it, then
counts this process's threads and open file descriptors and the server's
connections of clients carrying a unique name (other users of the server do
not count). Two shapes: every cache over one shared ``redis.Redis`` client,
and every cache on its own ``RedisStore.from_url`` client. Counts are taken
after a warm-up of 20 caches and after N more, each once the numbers settle.

    python benchmarks/measure_dropped_caches.py [--count N] [--redis URL]
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
import uuid

import redis

from hydracache_sync import HydraCache, RedisStore


def _counts(admin: redis.Redis, name: str) -> tuple[int, int, int]:
    """(threads, open fds, server-side connections named ``name``), settled."""
    previous = None
    for _ in range(40):
        gc.collect()
        now = (
            threading.active_count(),
            len(os.listdir("/proc/self/fd")),
            sum(1 for c in admin.client_list() if c.get("name") == name),
        )
        if now == previous:
            return now
        previous = now
        time.sleep(0.25)
    assert previous is not None
    return previous


def _run(url: str, count: int, own_client: bool) -> None:
    name = f"hc-measure-{uuid.uuid4().hex[:8]}"
    prefix = f"hcmeasure:{uuid.uuid4().hex[:8]}:"
    admin = redis.Redis.from_url(url)
    shared = redis.Redis.from_url(url, client_name=name)

    def drop(n: int) -> None:
        for _ in range(n):
            if own_client:
                store = RedisStore.from_url(url, prefix=prefix, client_name=name)
            else:
                store = RedisStore(shared, prefix=prefix)
            cache = HydraCache(shared=store)
            cache.set("k", "v")
            assert cache.get("k") == "v"
            del cache, store

    drop(20)
    before = _counts(admin, name)
    started = time.monotonic()
    drop(count)
    elapsed = time.monotonic() - started
    after = _counts(admin, name)
    shape = "own from_url client each" if own_client else "one shared client"
    print(
        f"{count} dropped caches, {shape}: threads {before[0]} -> {after[0]}, "
        f"fds {before[1]} -> {after[1]}, server clients {before[2]} -> {after[2]} "
        f"({elapsed:.1f} s)"
    )
    keys = list(admin.scan_iter(match=prefix + "*", count=1000))
    if keys:
        admin.delete(*keys)
    shared.close()
    admin.close()


def main() -> None:
    """Run both shapes and print the counts before and after."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument(
        "--redis",
        default=os.environ.get("HYDRACACHE_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    args = parser.parse_args()
    for own_client in (False, True):
        _run(args.redis, args.count, own_client)


if __name__ == "__main__":
    main()
