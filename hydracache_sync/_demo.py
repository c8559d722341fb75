"""``python -m hydracache_sync demo``: a short tour on the memory default."""

from __future__ import annotations

import threading
import time

from ._cache import HydraCache

__all__ = ["run_demo"]


def run_demo(out: object = None) -> None:
    """Print a tour of single-flight, tags, TTL and stats (no server needed)."""

    def say(text: str = "") -> None:
        print(text, file=out)  # type: ignore[call-overload]

    cache = HydraCache.local(max_bytes="8MB", default_ttl=300)
    say("hydracache_sync demo: a memory-only cache, no server needed\n")

    say("1. Single-flight: 16 threads ask for one cold key at once")
    runs = []

    def slow_report() -> dict[str, int]:
        runs.append(1)
        time.sleep(0.2)  # an expensive query
        return {"orders": 1234}

    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        cache.get_or_load("report:today", slow_report)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    say(f"   loader ran {len(runs)} time(s); {cache.stats().joins} callers joined it\n")

    say("2. Tags: invalidate every entry about user 42 at once")
    cache.set("user:42:profile", {"name": "Ada"}, tags=["user:42"])
    cache.set("user:42:orders", [1, 2, 3], tags=["user:42"])
    cache.set("user:7:profile", {"name": "Linus"}, tags=["user:7"])
    removed = cache.invalidate_tag("user:42")
    say(f"   removed {removed}; user:42:profile -> {cache.get('user:42:profile')!r}")
    say(f"   user:7:profile still -> {cache.get('user:7:profile')!r}\n")

    say("3. TTL: an entry set with ttl=0.2 is gone after 0.3 s")
    cache.set("flash", "sale!", ttl=0.2)
    say(f"   now: {cache.get('flash')!r}")
    time.sleep(0.3)
    say(f"   later: {cache.get('flash')!r}\n")

    say("4. Negative caching: a loader returning None is cached too")
    lookups = []
    for _ in range(3):
        cache.get_or_load("user:999", lambda: lookups.append(1), negative_ttl=30)
    say(f"   3 calls, {len(lookups)} lookup(s) of the missing user\n")

    stats = cache.stats()
    say("5. Stats")
    for name in ("hits", "misses", "loads", "joins", "invalidations", "expirations"):
        say(f"   {name:<14}{getattr(stats, name)}")
    say(f"   {'hit_ratio':<14}{stats.hit_ratio:.2f}")
