"""Run every ``benchmarks/bench_*.py`` module and print all results.

    python benchmarks/run.py [--quick] [--json FILE] [--check]
                             [--redis URL] [--postgres DSN] [--only local,redis]

Each module follows the convention in ``benchmarks/README.md``: a
``run(args) -> Report | None`` function (``None``: nothing to run here, e.g.
no ``--redis``), an optional ``add_arguments(parser)`` and a ``main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _harness import (  # noqa: E402
    Report,
    add_common_arguments,
    print_report,
    write_json,
)


def discover() -> tuple[dict[str, ModuleType], dict[str, str]]:
    """Import every ``bench_*.py`` here; return the modules and import failures."""
    modules: dict[str, ModuleType] = {}
    broken: dict[str, str] = {}
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        try:
            module = importlib.import_module(path.stem)
        except ImportError as exc:
            broken[name] = f"cannot import: {exc}"
            continue
        if not callable(getattr(module, "run", None)):
            broken[name] = "has no run(args) function"
            continue
        modules[name] = module
    return modules, broken


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark modules; return the exit status."""
    modules, broken = discover()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=f"comma-separated modules to run (of: {', '.join(modules)})",
    )
    parser.add_argument("--list", action="store_true", help="list modules and exit")
    for module in modules.values():
        add_arguments = getattr(module, "add_arguments", None)
        if add_arguments is not None:
            add_arguments(parser)
    args = parser.parse_args(argv)
    # With ``--json -`` stdout carries the JSON alone; the text goes to stderr.
    out = sys.stderr if args.json == "-" else sys.stdout

    if args.list:
        for name, module in modules.items():
            summary = (module.__doc__ or "").strip().splitlines()[:1]
            print(f"{name:12} {summary[0] if summary else ''}")
        for name, reason in broken.items():
            print(f"{name:12} ({reason})")
        return 0
    wanted = args.only.split(",") if args.only else list(modules)
    unknown = [name for name in wanted if name not in modules and name not in broken]
    if unknown:
        parser.error(f"unknown module(s): {', '.join(unknown)}")

    status = 0
    reports: list[Report] = []
    started = time.perf_counter()
    for name in wanted:
        if name in broken:
            print(f"[{name}] skipped: {broken[name]}\n", file=out, flush=True)
            continue
        try:
            report = modules[name].run(args)
        except Exception as exc:  # one broken module must not hide the others
            print(f"[{name}] failed: {type(exc).__name__}: {exc}\n", file=out)
            status = 1
            continue
        if report is None:
            print(f"[{name}] nothing to run with these options\n", file=out)
            continue
        print_report(report, out)
        print(file=out, flush=True)
        reports.append(report)
    if args.json:
        settings = {"quick": args.quick, "modules": wanted}
        write_json(args.json, reports, settings=settings)
    missed = [t for r in reports for t in r.missed]
    print(
        f"{len(reports)} module(s) in {time.perf_counter() - started:.1f} s; "
        f"{len(missed)} target(s) missed",
        file=out,
    )
    if args.check and missed:
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
