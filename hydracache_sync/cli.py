"""The ``hydracache`` command line (``python -m hydracache_sync``); argparse only.

Commands::

    demo                 a short tour on the memory default (no server)
    bench                run the benchmarks
    schema               print the Postgres migration SQL
    stats                key counts and memory in Redis, rows in Postgres
    invalidate-tag TAG   remove every entry carrying TAG, in every tier
    invalidate PATTERN   remove every key matching PATTERN (``*`` wildcard)
    delete KEY           remove one key from every tier
    cleanup              delete the expired rows of the Postgres table

Connection targets come from ``--redis URL`` / ``--postgres DSN`` /
``--prefix`` / ``--schema`` / ``--table`` or from the environment variables
``HYDRACACHE_REDIS_URL``, ``HYDRACACHE_POSTGRES_DSN``, ``HYDRACACHE_PREFIX``,
``HYDRACACHE_POSTGRES_SCHEMA`` and ``HYDRACACHE_POSTGRES_TABLE`` (a flag wins).
Operations on entries go through a :class:`~hydracache_sync.HydraCache` built
over the configured tiers with ``on_tier_error="raise"``, so one command
reaches every tier and a failing tier is an error, never a silent miss.

Exit status: 0 on success, 1 when the operation failed (server unreachable,
tier error, unwritable file), 2 on bad usage or configuration (argparse
errors, invalid names, keys or URLs, no tier given, missing table or driver),
130 when interrupted. Errors print one line on stderr, never a traceback.

.. versionadded:: 0.1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from ._benchargs import add_common_arguments, add_selection_arguments
from ._cli_commands import (
    DEFAULT_MEMORY_SAMPLE,
    ENV_POSTGRES_DSN,
    ENV_PREFIX,
    ENV_REDIS_URL,
    ENV_SCHEMA,
    ENV_TABLE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandError,
    cmd_bench,
    cmd_cleanup,
    cmd_delete,
    cmd_demo,
    cmd_invalidate,
    cmd_invalidate_tag,
    cmd_schema,
    cmd_stats,
)
from .errors import ConfigError, HydraCacheError, InvalidKey, MissingDependencyError

__all__ = ["build_parser", "main"]


# -- the parser ------------------------------------------------------------------------


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def _target_parents() -> dict[str, argparse.ArgumentParser]:
    """Build the option groups that commands share (read the environment now)."""
    redis = argparse.ArgumentParser(add_help=False)
    group = redis.add_argument_group("Redis (shared tier)")
    group.add_argument(
        "--redis",
        metavar="URL",
        default=_env(ENV_REDIS_URL),
        help=f"Redis URL, e.g. redis://127.0.0.1:6379/0 (env {ENV_REDIS_URL})",
    )
    group.add_argument(
        "--prefix",
        default=_env(ENV_PREFIX, "hc:"),
        help=f"the RedisStore key prefix (env {ENV_PREFIX}; default: %(default)s)",
    )
    dsn = argparse.ArgumentParser(add_help=False)
    dsn.add_argument_group("Postgres (durable tier)").add_argument(
        "--postgres",
        metavar="DSN",
        default=_env(ENV_POSTGRES_DSN),
        help=f"libpq DSN or URI (env {ENV_POSTGRES_DSN})",
    )
    table = argparse.ArgumentParser(add_help=False)
    group = table.add_argument_group("Postgres table")
    group.add_argument(
        "--schema",
        default=_env(ENV_SCHEMA, "public"),
        help=f"schema of the cache table (env {ENV_SCHEMA}; default: %(default)s)",
    )
    group.add_argument(
        "--table",
        default=_env(ENV_TABLE, "hydracache"),
        help=f"the cache table (env {ENV_TABLE}; default: %(default)s)",
    )
    return {"redis": redis, "dsn": dsn, "table": table}


_EPILOG = """\
connection targets may also come from the environment: HYDRACACHE_REDIS_URL,
HYDRACACHE_POSTGRES_DSN, HYDRACACHE_PREFIX, HYDRACACHE_POSTGRES_SCHEMA,
HYDRACACHE_POSTGRES_TABLE (a flag wins).
exit status: 0 success, 1 operation failed, 2 bad usage or configuration.
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand.

    Environment defaults are read when the parser is built.

    Returns:
        The ``hydracache`` parser.
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hydracache",
        description="Operate and try out hydracache_sync.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parents = _target_parents()
    tiers = [parents["redis"], parents["dsn"], parents["table"]]

    def command(
        name: str,
        summary: str,
        func: Callable[[argparse.Namespace], int],
        parents: Sequence[argparse.ArgumentParser] = (),
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary[:1].upper() + summary[1:] + ".",
            parents=list(parents),
        )
        sub.set_defaults(func=func, subparser=sub)
        return sub

    command("demo", "a short tour on the memory default (no server needed)", cmd_demo)

    bench = command("bench", "run the benchmarks and print a results table", cmd_bench)
    add_common_arguments(bench)
    add_selection_arguments(bench)

    command(
        "schema",
        "print the SQL that creates the Postgres table and its indexes",
        cmd_schema,
        [parents["table"]],
    )

    stats = command(
        "stats",
        "show key counts and memory in Redis, rows in Postgres",
        cmd_stats,
        tiers,
    )
    stats.add_argument("--json", action="store_true", help="print the numbers as JSON")
    stats.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_MEMORY_SAMPLE,
        metavar="N",
        help="Redis keys measured with MEMORY USAGE; more are extrapolated "
        "(default: %(default)s)",
    )

    command(
        "invalidate-tag",
        "remove every entry carrying a tag, in every tier",
        cmd_invalidate_tag,
        tiers,
    ).add_argument("tag", help="the tag, e.g. user:42")
    command(
        "invalidate",
        "remove every key matching a wildcard pattern, in every tier",
        cmd_invalidate,
        tiers,
    ).add_argument(
        "pattern", help="'*' matches any run of characters, e.g. 'users:42:*'"
    )
    command("delete", "remove one key from every tier", cmd_delete, tiers).add_argument(
        "key", help="the full cache key, e.g. users:42"
    )
    command(
        "cleanup",
        "delete the expired rows of the Postgres table and print their count",
        cmd_cleanup,
        [parents["dsn"], parents["table"]],
    )
    return parser


# -- entry point ---------------------------------------------------------------------


def _fail(message: str, status: int) -> int:
    # One line: libpq and friends spread their messages over several.
    print(f"hydracache: error: {' '.join(message.split())}", file=sys.stderr)
    return status


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 success, 1 failure, 2 bad usage or configuration.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (2)
        return _exit_status(exc.code)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = args.func(args)
    except SystemExit as exc:  # a command's own usage error
        return _exit_status(exc.code)
    except CommandError as exc:
        return _fail(str(exc), exc.status)
    except (ConfigError, InvalidKey) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except MissingDependencyError as exc:  # a driver not installed: configuration
        return _fail(str(exc), EXIT_USAGE)
    except HydraCacheError as exc:  # TierError and the rest
        return _fail(str(exc) or type(exc).__name__, EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`hydracache schema | head`): stop quietly.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # e.g. --json FILE cannot be written
        return _fail(str(exc), EXIT_FAILED)
    return status
