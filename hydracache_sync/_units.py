"""Parse sizes ("64MB") and durations (seconds, timedelta) into numbers."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from .errors import ConfigError

__all__ = ["parse_seconds", "parse_size"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(|B|K|KB|KIB|M|MB|MIB|G|GB|GIB)\s*$", re.I)
_MULTIPLIER = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(value: object, *, name: str) -> int:
    """Return a size in bytes from an ``int`` or a string like ``"512KB"``.

    Units are binary (``1KB == 1024``); ``KiB`` spellings are accepted.

    Raises:
        ConfigError: The value is negative, not a number of bytes, or unparsable.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a size such as 1048576 or '1MB', not a bool")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{name} must not be negative, got {value}")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = match.group(2).upper()[:1] if match.group(2) else ""
            return int(float(match.group(1)) * _MULTIPLIER[unit])
        raise ConfigError(
            f"{name}={value!r} is not a size: use an int of bytes or a string "
            "such as '512KB', '50MB' or '1GB'"
        )
    raise ConfigError(f"{name} must be an int or a string like '64MB', not {value!r}")


def parse_seconds(value: object, *, name: str) -> float:
    """Return seconds from an ``int``, ``float`` or ``timedelta``.

    Raises:
        ConfigError: The value is negative, not finite or of another type.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ConfigError(
            f"{name} must be seconds (int/float) or a timedelta, not {value!r}"
        )
    if seconds < 0 or math.isnan(seconds):
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return seconds
