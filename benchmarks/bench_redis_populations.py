"""Shared-tier reads over 10,000 shuffled keys on Redis, local copies gone.

The scenarios live in ``hydracache_sync/bench/redis_populations.py``; skipped
with a note when the server (``--redis URL`` or the environment) is unreachable.

    python benchmarks/bench_redis_populations.py [--quick] [--redis URL]
"""

from __future__ import annotations

import argparse

from _harness import Report, bench_main, run_family


def run(args: argparse.Namespace) -> Report | None:
    """Run the family; ``None`` (with a note) when its server is unreachable."""
    return run_family("redis_populations", args)


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
