"""The shared benchmark harness: a thin re-export of ``hydracache_sync._bench``.

The harness lives in the package so that ``python -m hydracache_sync bench``
works without this checkout. Benchmarks here measure the checkout they live
in: the repository root goes first on ``sys.path``, ahead of any installed copy.
See ``benchmarks/README.md`` for the module convention.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if (_ROOT / "hydracache_sync").is_dir() and str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from hydracache_sync._bench import (  # noqa: E402  (after the sys.path fix above)
    Body,
    Count,
    GroupResult,
    Harness,
    Progress,
    Report,
    Row,
    ScalingRow,
    Settings,
    Target,
    add_common_arguments,
    bench_main,
    compile_loop,
    environment,
    format_table,
    measure_scaling,
    print_table,
    scaling_steps,
    throughput,
    write_json,
)

__all__ = [
    "Body",
    "Count",
    "GroupResult",
    "Harness",
    "Progress",
    "Report",
    "Row",
    "ScalingRow",
    "Settings",
    "Target",
    "add_common_arguments",
    "bench_main",
    "compile_loop",
    "environment",
    "format_table",
    "measure_scaling",
    "print_table",
    "scaling_steps",
    "throughput",
    "write_json",
]
