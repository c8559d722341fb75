"""Run the benchmarks: ``python -m hydracache_sync.bench [--quick] [--only NAMES]``."""

from __future__ import annotations

from .runner import main

raise SystemExit(main())
