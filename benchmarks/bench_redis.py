"""Shared tier on Redis: shared-tier hit, get_many(100), local hit, against redis-py.

Rows (interleaved per round, ratios against the raw driver call):

- shared-tier hit (local miss, Redis GET, decode, promotion) against a raw
  redis-py ``GET`` of the same bytes on the store's own client, with a
  dogpile.cache.redis ``region.get`` peer row;
- ``get_many`` of 100 keys, all in Redis and none local, against one raw
  ``MGET`` of the same value keys (dogpile ``get_multi`` as a peer);
- a local hit in a cache with Redis configured and its listener running,
  against a memory-only cache.

The server: ``--redis URL``, else ``$HYDRACACHE_REDIS_URL``, else
redis://127.0.0.1:6379/0. Keys live under a unique prefix, all removed at the
end. Skipped with a note when the server cannot be reached. The scenarios live
in ``hydracache_sync.bench`` (``hydracache bench --redis URL`` runs them too).

    python benchmarks/bench_redis.py [--quick] [--redis URL] [--json FILE] [--check]
"""

from __future__ import annotations

import argparse

from _harness import Report, bench_main, run_family


def run(args: argparse.Namespace) -> Report | None:
    """Measure the shared tier; ``None`` (with a note) when Redis is unreachable."""
    return run_family("redis", args)


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
