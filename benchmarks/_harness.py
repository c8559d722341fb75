"""The shared benchmark harness: a thin re-export of ``hydracache_sync.bench``.

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

# After the sys.path fix above (E402): the checkout's package, not an installed one.
from hydracache_sync.bench.display import (  # noqa: E402
    Progress,
    format_table,
    print_report,
    print_table,
)
from hydracache_sync.bench.harness import (  # noqa: E402
    Body,
    Harness,
    Settings,
    compile_loop,
    measure_scaling,
    scaling_steps,
    throughput,
)
from hydracache_sync.bench.report import (  # noqa: E402
    Count,
    GroupResult,
    Report,
    Row,
    ScalingRow,
    Target,
    environment,
    write_json,
)
from hydracache_sync.bench.runner import (  # noqa: E402
    add_common_arguments,
    bench_main,
    run_family,
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
    "print_report",
    "print_table",
    "run_family",
    "scaling_steps",
    "throughput",
    "write_json",
]
