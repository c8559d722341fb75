"""@hydra_cache over 1, 10,000 and 100,000 distinct arguments; the cold key build.

The scenarios live in ``hydracache_sync/bench/populations.py`` (``hydracache
bench --only populations`` runs them too).

    python benchmarks/bench_populations.py [--quick] [--json FILE] [--check]
"""

from __future__ import annotations

import argparse

from _harness import Report, bench_main, run_family


def run(args: argparse.Namespace) -> Report | None:
    """Run the family; ``None`` (with a note) when its server is unreachable."""
    return run_family("populations", args)


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
