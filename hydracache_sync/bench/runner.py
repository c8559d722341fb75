"""Run scenario families from the command line: options, selection, exit status."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .._benchargs import add_common_arguments, add_selection_arguments
from ..errors import ConfigError
from . import FAMILIES, Family, family
from .display import print_report
from .report import Report, write_json
from .servers import (
    first_line,
    postgres_unreachable,
    redis_unreachable,
    resolve_postgres_dsn,
    resolve_redis_url,
)

__all__ = [
    "add_common_arguments",
    "bench_main",
    "main",
    "report_function",
    "run",
    "run_family",
    "run_from_args",
    "select",
]

_RESOLVE: dict[str, Callable[[str | None], str]] = {
    "redis": resolve_redis_url,
    "postgres": resolve_postgres_dsn,
}
_UNREACHABLE: dict[str, Callable[[str], str | None]] = {
    "redis": redis_unreachable,
    "postgres": postgres_unreachable,
}


def bench_main(
    run: Callable[[argparse.Namespace], Report | None],
    argv: Sequence[str] | None = None,
    *,
    description: str | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Run one benchmark module from the command line; return the exit status.

    Parses the common options (plus ``add_arguments``), calls ``run(args)``,
    prints the report, writes ``--json`` and applies ``--check``. ``run``
    returning ``None`` means nothing ran (e.g. no ``--redis`` given).
    """
    parser = argparse.ArgumentParser(description=description)
    add_common_arguments(parser)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    report = run(args)
    if report is None:
        return 0
    # With ``--json -`` stdout carries the JSON alone; the table goes to stderr.
    print_report(report, sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        write_json(args.json, [report], settings={"quick": args.quick})
    return 1 if args.check and report.missed else 0


def report_function(chosen: Family) -> Callable[..., Report]:
    """Import ``chosen``'s module and return its report function."""
    module = importlib.import_module(f"{__package__}.{chosen.name}")
    function: Callable[..., Report] = getattr(module, chosen.report)
    return function


def select(only: Sequence[str] | None) -> list[Family]:
    """Return the families named in ``only`` (registry order), or the default ones.

    Raises:
        ConfigError: A name is not a registered family.
    """
    if not only:
        return [f for f in FAMILIES if f.default]
    known = {f.name for f in FAMILIES}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ConfigError(
            f"unknown benchmark(s) {', '.join(unknown)}: "
            f"choose from {', '.join(sorted(known))}"
        )
    return [f for f in FAMILIES if f.name in only]


def run_family(
    name: str,
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    **options: Any,
) -> Report | None:
    """Run the family ``name`` with the common options in ``args``.

    A server the family needs comes from ``args.redis`` / ``args.postgres``,
    else the environment, else the local default. When it cannot be reached,
    a ``[name] skipped: why`` line goes to ``out`` and the result is ``None``.
    ``options`` go to the report function as keywords.
    """
    chosen = family(name)
    make = report_function(chosen)
    if chosen.needs is None:
        return make(quick=args.quick, progress=args.progress, **options)
    target = _RESOLVE[chosen.needs](getattr(args, chosen.needs, None))
    reason = _UNREACHABLE[chosen.needs](target)
    if reason is not None:
        if out is None:
            out = sys.stderr if args.json == "-" else sys.stdout
        print(f"[{name}] skipped: {reason}", file=out, flush=True)
        return None
    return make(target, quick=args.quick, progress=args.progress, **options)


def run(
    quick: bool = False,
    json_path: str | None = None,
    progress: bool | None = None,
    *,
    check: bool = False,
    redis_url: str | None = None,
    postgres_dsn: str | None = None,
    only: Sequence[str] | None = None,
    plot: str | None = None,
) -> int:
    """Run the benchmark families and print their tables (``hydracache bench``).

    Args:
        quick: About 10 s instead of about 40 s for the local tier.
        json_path: Also write the results as JSON there (``-``: stdout).
        progress: Progress bar on stderr: ``None`` only on a TTY, ``True``
            forced, ``False`` off.
        check: Return 1 when a target is missed.
        redis_url: Also run the families that need Redis there.
        postgres_dsn: Also run the families that need Postgres there.
        only: Run these families (by name) instead of the default ones; a
            server they need and were not given comes from the environment
            or the local default.
        plot: Write charts into this directory (the families that draw one:
            hit ratio against capacity; needs matplotlib).

    Returns:
        The exit status: 1 when a family asked for could not be measured (or,
        with ``check``, a target was missed), else 0.

    Raises:
        ConfigError: ``only`` names an unknown family.
    """
    chosen = select(only)
    out = sys.stderr if json_path == "-" else sys.stdout
    given = {"redis": redis_url, "postgres": postgres_dsn}
    reports: list[Report] = []
    failed = False
    for index, item in enumerate(chosen):
        lead = "\n" if index else ""
        target: str | None = None
        if item.needs is not None:
            target = given[item.needs]
            if target is None and not only:
                continue  # a default run measures only the servers it was given
            target = _RESOLVE[item.needs](target)
            unreachable = _UNREACHABLE[item.needs](target)
            if unreachable is not None:
                print(f"{lead}[{item.name}] skipped: {unreachable}", file=out)
                failed = True
                continue
        try:
            make = report_function(item)
            extra = {"plot": plot} if plot and item.plots else {}
            if target is None:
                report = make(quick=quick, progress=progress, **extra)
            else:
                report = make(target, quick=quick, progress=progress, **extra)
        except Exception as exc:  # one failed family must not hide the others
            print(f"{lead}[{item.name}] failed: {first_line(exc)}", file=out)
            failed = True
            continue
        if lead:
            print(file=out)
        print_report(report, out)
        out.flush()
        reports.append(report)
    if json_path:
        write_json(json_path, reports, settings={"quick": quick})
    missed = check and any(report.missed for report in reports)
    return 1 if failed or missed else 0


def run_from_args(args: argparse.Namespace) -> int:
    """Run what parsed options (common and selection arguments) ask for.

    Raises:
        ConfigError: ``--only`` names an unknown family.
    """
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (``python -m hydracache_sync.bench``)."""
    parser = argparse.ArgumentParser(
        prog="python -m hydracache_sync.bench",
        description="hydracache_sync benchmarks (the local tier unless told more)",
    )
    add_common_arguments(parser)
    add_selection_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
