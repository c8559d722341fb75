"""Run the command line: ``python -m hydracache_sync``."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
