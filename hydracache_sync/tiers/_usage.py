"""What a remote store holds, as the ``hydracache stats`` command reports it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PostgresUsage", "RedisUsage"]


@dataclass(frozen=True, slots=True)
class RedisUsage:
    """The keys of one :class:`~hydracache_sync.tiers.redis.RedisStore` prefix.

    ``memory_bytes`` is the sum of ``MEMORY USAGE`` over every key when
    ``memory_exact``, else the sampled keys' mean times the key count; ``None``
    when the server refused the command (ACL, renamed) or nothing was sampled.

    .. versionadded:: 0.2
    """

    entries: int  # value keys (v:)
    tagged_entries: int  # tag records of tagged entries (k:)
    tag_sets: int  # tag sets (t:)
    keys: int
    memory_bytes: int | None
    memory_exact: bool
    memory_sampled_keys: int

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PostgresUsage:
    """The rows of one :class:`~hydracache_sync.tiers.postgres.PostgresStore` table.

    .. versionadded:: 0.2
    """

    rows: int
    live_rows: int
    expired_rows: int  # what ``cleanup_expired`` would remove
    negative_rows: int  # cached ``None`` stored natively (``is_none``)
    table_bytes: int  # pg_total_relation_size: table, indexes and TOAST

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)
