"""Hit ratio: HydraCache's local tier against theine, moka-py, cachetools, cachebox.

Zipf traces (a 0.6-1.2), Zipf with one-time scans, a loop slightly larger than
the cache and a shifting popular set, at 1-10 % capacity (2 % and 10 % with
``--quick``), with the issue's targets marked PASS/MISS. The scenarios live in
``hydracache_sync.bench.hitratio`` (``hydracache bench`` runs them too).

    python benchmarks/bench_hitratio.py [--quick] [--plot DIR] [--json FILE]
"""

from __future__ import annotations

import argparse

from _harness import Report, bench_main, run_family


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="DIR", help="write DIR/hitratio.png")


def run(args: argparse.Namespace) -> Report | None:
    """Measure hit ratios with the common options in ``args``."""
    return run_family("hitratio", args, plot=getattr(args, "plot", None))


def main(argv: list[str] | None = None) -> int:
    """Run this module alone; return the exit status."""
    return bench_main(run, argv, description=__doc__, add_arguments=_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
