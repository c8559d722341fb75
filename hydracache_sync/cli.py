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
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .errors import (
    ConfigError,
    HydraCacheError,
    InvalidKey,
    MissingDependencyError,
)

if TYPE_CHECKING:
    from ._cache import HydraCache
    from .tiers.postgres import PostgresStore
    from .tiers.redis import RedisStore

__all__ = ["build_parser", "main"]

ENV_REDIS_URL = "HYDRACACHE_REDIS_URL"
ENV_POSTGRES_DSN = "HYDRACACHE_POSTGRES_DSN"
ENV_PREFIX = "HYDRACACHE_PREFIX"
ENV_SCHEMA = "HYDRACACHE_POSTGRES_SCHEMA"
ENV_TABLE = "HYDRACACHE_POSTGRES_TABLE"

#: Keys whose ``MEMORY USAGE`` ``stats`` measures; past this it extrapolates.
DEFAULT_MEMORY_SAMPLE = 1000

_EXIT_FAILED = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130


class _CommandError(Exception):
    """A command cannot run; ``main`` prints the message and exits ``status``."""

    def __init__(self, message: str, status: int = _EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


# -- connection targets ----------------------------------------------------------


def _mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (for printing)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _redis_label(args: argparse.Namespace) -> str:
    return f"redis {_mask_url(args.redis)} prefix {args.prefix!r}"


def _postgres_label(args: argparse.Namespace) -> str:
    return f'postgres "{args.schema}"."{args.table}"'


def _open_redis(args: argparse.Namespace) -> RedisStore:
    from .tiers.redis import RedisStore

    return RedisStore.from_url(args.redis, prefix=args.prefix)


def _open_postgres(args: argparse.Namespace) -> PostgresStore:
    from .tiers.postgres import PostgresStore

    # One command, one thread: a pool of one connection is enough.
    return PostgresStore(
        args.postgres,
        schema=args.schema,
        table=args.table,
        min_connections=1,
        max_connections=1,
    )


def _require_target(args: argparse.Namespace) -> None:
    if not args.redis and not args.postgres:
        args.subparser.error(
            "no tier to work on: give --redis URL and/or --postgres DSN "
            f"(or set {ENV_REDIS_URL} / {ENV_POSTGRES_DSN})"
        )


@contextlib.contextmanager
def _tiered_cache(args: argparse.Namespace) -> Iterator[tuple[HydraCache, str]]:
    """Yield a strict HydraCache over the configured tiers and a description."""
    from ._cache import HydraCache
    from .tiers.local import LocalStore

    _require_target(args)
    with contextlib.ExitStack() as stack:
        shared = durable = None
        labels = []
        if args.redis:
            shared = _open_redis(args)
            stack.callback(shared.close)
            labels.append(_redis_label(args))
        if args.postgres:
            durable = _open_postgres(args)
            stack.callback(durable.close)
            labels.append(_postgres_label(args))
        cache = HydraCache(
            LocalStore(max_bytes="1MB"),
            shared=shared,
            durable=durable,
            on_tier_error="raise",
        )
        # Stops the cache's background work (if any) before the stores close.
        stack.callback(cache.close)
        yield cache, " and ".join(labels)


# -- commands ----------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo()
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from .tiers.postgres import migration_sql

    sys.stdout.write(migration_sql(args.schema, args.table))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    # The benchmarks live in a subpackage imported only here (rich: bench extra).
    try:
        from .bench.runner import run
    except MissingDependencyError:
        raise
    except ImportError as exc:
        raise _CommandError(
            f"the benchmarks are not available in this installation: {exc}"
        ) from exc
    return run(
        args.quick,
        args.json,
        args.progress,
        check=args.check,
        redis_url=args.redis,
        postgres_dsn=args.postgres,
        only=args.only.split(",") if args.only else None,
        plot=args.plot,
    )


def _cmd_invalidate_tag(args: argparse.Namespace) -> int:
    with _tiered_cache(args) as (cache, where):
        removed = cache.invalidate_tag(args.tag)
    print(f"invalidated tag {args.tag!r} in {where}: {removed} removed")
    return 0


def _cmd_invalidate(args: argparse.Namespace) -> int:
    with _tiered_cache(args) as (cache, where):
        removed = cache.invalidate(args.pattern)
    print(f"invalidated {args.pattern!r} in {where}: {removed} removed")
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    with _tiered_cache(args) as (cache, where):
        found = cache.delete(args.key)
    if found:
        print(f"deleted {args.key!r} from {where}")
    else:
        print(f"{args.key!r} was not cached in {where}")
    return 0


def _cmd_cleanup(args: argparse.Namespace) -> int:
    if not args.postgres:
        args.subparser.error(
            f"cleanup needs --postgres DSN (or {ENV_POSTGRES_DSN} in the environment)"
        )
    store = _open_postgres(args)
    try:
        removed = store.cleanup_expired()
    finally:
        store.close()
    print(f"removed {removed} expired rows from {_postgres_label(args)}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    _require_target(args)
    if args.sample < 0:
        args.subparser.error("--sample must be >= 0")
    report: dict[str, dict[str, Any]] = {}
    if args.redis:
        report["redis"] = _redis_stats(args)
    if args.postgres:
        report["postgres"] = _postgres_stats(args)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    if "redis" in report:
        print(_format_redis(report["redis"], args))
    if "postgres" in report:
        print(_format_postgres(report["postgres"], args))
    return 0


# -- stats ---------------------------------------------------------------------------


def _redis_stats(args: argparse.Namespace) -> dict[str, Any]:
    """Ask the store for its key counts and memory (``RedisStore.usage``)."""
    store = _open_redis(args)
    try:
        usage = store.usage(args.sample)
    finally:
        store.close()
    return {"prefix": args.prefix, **usage.as_dict()}


def _postgres_stats(args: argparse.Namespace) -> dict[str, Any]:
    """Ask the store for its row counts and size (``PostgresStore.usage``)."""
    store = _open_postgres(args)
    try:
        usage = store.usage()
    finally:
        store.close()
    return {"schema": args.schema, "table": args.table, **usage.as_dict()}


def _human_bytes(size: int | None) -> str:
    if size is None:
        return "unknown (MEMORY USAGE not allowed)"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _format_redis(stats: dict[str, Any], args: argparse.Namespace) -> str:
    memory = _human_bytes(stats["memory_bytes"])
    if stats["memory_bytes"] is not None and stats["keys"]:
        how = "sum" if stats["memory_exact"] else "estimate from"
        memory += f" ({how} MEMORY USAGE of {stats['memory_sampled_keys']} keys)"
    return "\n".join(
        [
            _redis_label(args),
            f"  entries         {stats['entries']}",
            f"  tagged entries  {stats['tagged_entries']}",
            f"  tag sets        {stats['tag_sets']}",
            f"  keys            {stats['keys']}",
            f"  memory          {memory}",
        ]
    )


def _format_postgres(stats: dict[str, Any], args: argparse.Namespace) -> str:
    expired = str(stats["expired_rows"])
    if stats["expired_rows"]:
        expired += "  (`hydracache cleanup` removes them)"
    return "\n".join(
        [
            _postgres_label(args),
            f"  rows            {stats['rows']}",
            f"  live            {stats['live_rows']}",
            f"  expired         {expired}",
            f"  negative        {stats['negative_rows']}",
            f"  table size      {_human_bytes(stats['table_bytes'])}",
        ]
    )


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

    command("demo", "a short tour on the memory default (no server needed)", _cmd_demo)

    bench = command("bench", "run the benchmarks and print a results table", _cmd_bench)
    bench.add_argument(
        "--quick", action="store_true", help="fewer, shorter rounds (about 10 s)"
    )
    bench.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON ('-': stdout)"
    )
    bench.add_argument(
        "--redis", metavar="URL", help="add the shared-tier scenarios on this Redis"
    )
    bench.add_argument(
        "--postgres", metavar="DSN", help="add the durable-tier scenarios on this DSN"
    )
    bench.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="force the progress bar (default: only on a terminal)",
    )
    bench.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    bench.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a performance target is missed",
    )
    bench.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated scenario families to run instead of the default "
        "ones (local, and redis/postgres/coherence when given a server); "
        "e.g. 'local,redis'",
    )
    bench.add_argument(
        "--plot",
        metavar="DIR",
        help="also write DIR/hitratio.png: hit ratio against capacity per trace "
        "(needs matplotlib: the bench extra)",
    )

    command(
        "schema",
        "print the SQL that creates the Postgres table and its indexes",
        _cmd_schema,
        [parents["table"]],
    )

    stats = command(
        "stats",
        "show key counts and memory in Redis, rows in Postgres",
        _cmd_stats,
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
        _cmd_invalidate_tag,
        tiers,
    ).add_argument("tag", help="the tag, e.g. user:42")
    command(
        "invalidate",
        "remove every key matching a wildcard pattern, in every tier",
        _cmd_invalidate,
        tiers,
    ).add_argument(
        "pattern", help="'*' matches any run of characters, e.g. 'users:42:*'"
    )
    command(
        "delete", "remove one key from every tier", _cmd_delete, tiers
    ).add_argument("key", help="the full cache key, e.g. users:42")
    command(
        "cleanup",
        "delete the expired rows of the Postgres table and print their count",
        _cmd_cleanup,
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
    return code if isinstance(code, int) else _EXIT_FAILED


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
        return _EXIT_USAGE
    try:
        status: int = args.func(args)
    except SystemExit as exc:  # a command's own usage error
        return _exit_status(exc.code)
    except _CommandError as exc:
        return _fail(str(exc), exc.status)
    except (ConfigError, InvalidKey) as exc:
        return _fail(str(exc), _EXIT_USAGE)
    except MissingDependencyError as exc:  # a driver not installed: configuration
        return _fail(str(exc), _EXIT_USAGE)
    except HydraCacheError as exc:  # TierError and the rest
        return _fail(str(exc) or type(exc).__name__, _EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted", _EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`hydracache schema | head`): stop quietly.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return _EXIT_FAILED
    except OSError as exc:  # e.g. --json FILE cannot be written
        return _fail(str(exc), _EXIT_FAILED)
    return status
