"""The options every benchmark entry point shares, declared once (stdlib only).

Both ``hydracache bench`` (``cli.py``, which must not import the bench package
or rich) and the benchmark modules' own ``main`` (``bench/runner.py``) add them.
"""

from __future__ import annotations

import argparse

__all__ = ["add_common_arguments", "add_selection_arguments"]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--quick``, ``--json``, ``--progress``, ``--check``, ``--redis``, ..."""
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter rounds (about 10 s)"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON ('-': stdout)"
    )
    parser.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="force the progress bar (default: only on a terminal)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a performance target is missed",
    )
    parser.add_argument(
        "--redis", metavar="URL", help="add the shared-tier scenarios on this Redis"
    )
    parser.add_argument(
        "--postgres", metavar="DSN", help="add the durable-tier scenarios on this DSN"
    )


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--only`` and ``--plot`` (the runners' own, beyond the modules')."""
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated scenario families to run instead of the default "
        "ones (local, and redis/postgres/coherence when given a server); "
        "e.g. 'local,redis'",
    )
    parser.add_argument(
        "--plot",
        metavar="DIR",
        help="also write DIR/hitratio.png: hit ratio against capacity per trace "
        "(needs matplotlib: the bench extra)",
    )
