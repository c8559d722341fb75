"""The exception hierarchy of hydracache_sync; imports nothing from the package.

::

    HydraCacheError
    ├── ConfigError (also ValueError)             bad constructor/decorator arguments
    ├── MissingDependencyError (also ImportError) names the extra to install
    ├── CodecError (also TypeError)               a value cannot be encoded
    ├── InvalidKey (also KeyError)                a bad key or key segment
    ├── CacheClosedError                          the cache was closed
    └── TierError                                 a tier failed (raised only with
        ├── TierUnavailableError                  ``on_tier_error="raise"``)
        └── TierTimeoutError (also TimeoutError)

Driver exceptions (redis-py, psycopg2) never cross a tier boundary: each tier maps
them to :class:`TierError`, chained with ``from``.
"""

from __future__ import annotations

__all__ = [
    "CacheClosedError",
    "CodecError",
    "ConfigError",
    "HydraCacheError",
    "InvalidKey",
    "MissingDependencyError",
    "TierError",
    "TierTimeoutError",
    "TierUnavailableError",
]


class HydraCacheError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(HydraCacheError, ValueError):
    """A constructor, decorator or option argument is invalid."""


class MissingDependencyError(HydraCacheError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class CodecError(HydraCacheError, TypeError):
    """A value cannot be encoded; nothing was stored."""


class InvalidKey(HydraCacheError, KeyError):
    """A key or key segment is not allowed."""

    def __str__(self) -> str:
        # KeyError.__str__ repr()s its argument; a message reads better plainly.
        return str(self.args[0]) if self.args else ""


class CacheClosedError(HydraCacheError):
    """The cache was closed; it serves nothing any more.

    Args:
        cache: A description of the closed cache (its ``repr``).

    .. versionadded:: 0.2
    """

    def __init__(self, cache: str) -> None:
        super().__init__(
            f"{cache} is closed: close() is final, build a new cache to go on"
        )
        self.cache = cache


class TierError(HydraCacheError):
    """A tier (Redis, Postgres) failed.

    Args:
        message: What went wrong.
        tier: The tier's name, e.g. ``"redis"``.
    """

    def __init__(self, message: str, *, tier: str = "") -> None:
        super().__init__(message)
        self.tier = tier


class TierUnavailableError(TierError):
    """The tier's server refused or dropped the connection."""


class TierTimeoutError(TierError, TimeoutError):
    """The tier did not answer in time."""
