"""PostgresStore: the durable tier, envelope bytes in the migration's table.

With its helpers ``tiers/_postgres_sql.py`` (the migration and the statements)
and ``tiers/_postgres_conn.py`` (the pool and one call with retries), the only
importer of psycopg2, and only inside functions: importing this module (or
``hydracache_sync``) works without the driver installed.

The table comes from :func:`migration_sql` (``python -m hydracache_sync
schema``); the store checks it at construction and never creates or alters
schema at run time. Every statement is parameterised and identifiers are
validated, then quoted with :class:`psycopg2.sql.Identifier`.

Counting rule: ``delete``, ``delete_many``, ``invalidate_tag``,
``invalidate_pattern`` and ``clear`` remove every matching row, expired ones
included, but count (or report) only the rows that were still live, so the
numbers agree with what ``get`` could have returned just before.
``cleanup_expired`` is the one that counts expired rows.

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import weakref
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from hydracache_sync.errors import (
    ConfigError,
    TierUnavailableError,
)
from hydracache_sync.tiers import _fork
from hydracache_sync.tiers._postgres_conn import (
    PostgresConnections,
    Statements,
    require_psycopg2,
)
from hydracache_sync.tiers._postgres_sql import (
    check_identifier,
    fetch_all,
    fetch_count,
    fetch_one,
    like_pattern,
    migration_sql,
    no_result,
    row_count,
    ttl_param,
)
from hydracache_sync.tiers._usage import PostgresUsage
from hydracache_sync.tiers._watchdog import Watchdog
from hydracache_sync.tiers.base import BaseTier, NativeNegative, Stored, StoreItem

if TYPE_CHECKING:
    from psycopg2.extensions import connection
    from psycopg2.pool import AbstractConnectionPool

__all__ = ["PostgresStore", "migration_sql"]


class PostgresStore(PostgresConnections, BaseTier):
    """The durable tier: envelope bytes in a PostgreSQL table, via psycopg2.

    Entries the cache writes with ``negative=True`` (a cached ``None`` without
    ``secret=``) are stored natively as ``value NULL, is_none TRUE`` and read
    back as a :class:`~hydracache_sync.tiers.base.NativeNegative`, hence
    ``trusted``; a cache with a secret refuses those, and its signed negatives
    are stored as their envelope bytes. The store never parses an envelope.

    Connections come from a :class:`psycopg2.pool.ThreadedConnectionPool`:

    * Given a DSN, the store owns a pool of at most ``max_connections``
      connections (``min_connections`` opened at once), keeps up to
      ``max_connections`` of them idle for reuse, switches them to autocommit
      and sets ``connect_timeout`` and ``statement_timeout`` on them;
      :meth:`close` closes the pool. psycopg2's pool does not wait for a busy
      connection, so the store does: a call that finds every connection busy
      waits up to ``pool_timeout`` seconds for one, then fails with
      :class:`~hydracache_sync.errors.TierTimeoutError`.
    * Given a pool, the store borrows connections and leaves their settings
      alone (a connection not in autocommit is committed after each call);
      :meth:`close` does not close it.

    On every connection it uses the store keeps server-side prepared statements
    for the read path and single ``set`` (named ``hydracache_*``); they
    disappear with the connection.

    A connection found dead (server restarted, backend terminated, network
    reset) is closed and never returned to the pool, and the statement is
    retried on another connection, at most once per possible pool connection
    plus one fresh one; so after a server restart the first call already
    succeeds. Statements are idempotent upserts and deletes, so a retry cannot
    double-apply, though a removal count may then miss rows the lost attempt
    removed. When no connection can be opened the call raises
    :class:`~hydracache_sync.errors.TierUnavailableError`.

    The table belongs to the store: :meth:`clear` deletes every row in it.

    Args:
        dsn_or_pool: A libpq DSN/URI string, or a psycopg2 connection pool.
        schema: The schema holding the table (a plain identifier).
        table: The table created by :func:`migration_sql` (a plain identifier).
        name: The tier's name in errors and stats.
        min_connections: Connections an owned pool opens at construction.
        max_connections: Most connections an owned pool opens.
        connect_timeout: Seconds to wait for a connection (owned pool; this
            keyword overrides the DSN's).
        statement_timeout_ms: Server-side statement timeout of an owned pool's
            connections, appended to the DSN's ``options``; ``None`` leaves it
            unset.
        pool_timeout: Seconds a call waits for a free connection when all
            ``max_connections`` are busy (default: ``connect_timeout``).
        call_timeout: Client-side deadline of a call, in seconds, waiting for
            a free connection included (default: the statement timeout plus
            one second, at least 3). A server that does not answer in time
            (frozen, or a hung host whose kernel still acknowledges) has the
            call's socket shut down by a watchdog thread: the call fails with
            :class:`~hydracache_sync.errors.TierTimeoutError` at most about
            50 ms late, and the connection is discarded. Opening a connection
            is bounded by ``connect_timeout`` instead. Owned pools also get
            TCP keepalives and ``tcp_user_timeout`` for dead peers.

    Raises:
        ConfigError: A bad name or argument, or the table is missing or has a
            missing or mistyped column (the message names the
            ``python -m hydracache_sync schema`` command).
        MissingDependencyError: psycopg2 is not installed.
        TierUnavailableError: The server cannot be reached.

    .. versionadded:: 0.1
    """

    name = "postgres"
    trusted = True

    def __init__(
        self,
        dsn_or_pool: str | AbstractConnectionPool,
        *,
        schema: str = "public",
        table: str = "hydracache",
        name: str = "postgres",
        min_connections: int = 1,
        max_connections: int = 8,
        connect_timeout: float = 3,
        statement_timeout_ms: int | None = 2000,
        pool_timeout: float | None = None,
        call_timeout: float | None = None,
    ) -> None:
        self.schema = check_identifier(schema, "schema")
        self.table = check_identifier(table, "table")
        self.name = name
        if max_connections < 1 or not 0 <= min_connections <= max_connections:
            raise ConfigError(
                "need 0 <= min_connections <= max_connections and "
                f"max_connections >= 1, got {min_connections}, {max_connections}"
            )
        if not connect_timeout > 0:
            raise ConfigError(f"connect_timeout must be > 0, got {connect_timeout!r}")
        if pool_timeout is not None and not pool_timeout > 0:
            raise ConfigError(f"pool_timeout must be > 0, got {pool_timeout!r}")
        if call_timeout is None:
            call_timeout = max(3.0, (statement_timeout_ms or 0) / 1000 + 1.0)
        elif not 0 < call_timeout < math.inf:
            raise ConfigError(f"call_timeout must be > 0, got {call_timeout!r}")
        self._call_timeout = float(call_timeout)
        self._watchdog = Watchdog(name)
        if statement_timeout_ms is not None and statement_timeout_ms < 0:
            raise ConfigError(
                f"statement_timeout_ms must be >= 0, got {statement_timeout_ms!r}"
            )
        require_psycopg2()
        import psycopg2.pool

        self._closed = False
        self._owns_pool = False
        # Connections that carry our prepared statements. Weak, so a discarded
        # connection drops out; membership is the only operation (GIL-atomic).
        self._ready: weakref.WeakSet[connection] = weakref.WeakSet()
        self._statements: dict[str, str] = {}
        # Filled by the table check; a statement asked for before it ran (the
        # server was down at construction) runs the check first.
        self._sql: dict[str, str] = Statements(self._check_now)
        self._checked = False
        self._check_lock = threading.Lock()
        self._reopen: Callable[[int], AbstractConnectionPool] | None = None
        if isinstance(dsn_or_pool, str):
            dsn = dsn_or_pool

            def reopen(least: int) -> AbstractConnectionPool:
                return self._open_pool(
                    dsn,
                    least,
                    max_connections,
                    connect_timeout,
                    statement_timeout_ms,
                    self._call_timeout,
                )

            try:
                self._pool: AbstractConnectionPool = reopen(min_connections)
            except TierUnavailableError:
                # The server is down: a pool that connects on first use, so
                # the cache can start and degrade (see _check_now).
                self._pool = reopen(0)
            self._reopen = reopen
            self._owns_pool = True
        elif isinstance(dsn_or_pool, psycopg2.pool.AbstractConnectionPool):
            self._pool = dsn_or_pool
        else:
            raise ConfigError(
                "PostgresStore needs a DSN string or a psycopg2 connection pool, "
                f"got {type(dsn_or_pool).__name__}"
            )
        # Every pool connection may be stale at once (server restart), plus one
        # fresh connection: that many attempts always reach a live server.
        self._attempts = max(int(self._pool.maxconn), 1) + 1
        # One slot per pool connection: more threads than connections queue
        # here for up to pool_timeout instead of failing in getconn(). A
        # SimpleQueue of tokens, not a Semaphore: taking and returning a slot
        # are two C calls instead of a Condition in Python (~5 us a read).
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(max(int(self._pool.maxconn), 1)):
            self._slots.put(None)
        self._pool_timeout = connect_timeout if pool_timeout is None else pool_timeout
        try:
            self._setup()
        except TierUnavailableError:
            pass  # checked on first use; HydraCache(on_tier_error="raise") asks now
        except BaseException:
            self.close()
            raise
        _fork.register(self)

    def __repr__(self) -> str:
        owner = "owned" if self._owns_pool else "borrowed"
        return (
            f"<{type(self).__name__} {self.name!r} "
            f'"{self.schema}"."{self.table}" ({owner} pool)>'
        )

    # -- RemoteTier -------------------------------------------------------------

    @staticmethod
    def _decode(
        value: Any, neg_expires: float | None, neg_tags: list[str] | None
    ) -> Stored:
        """Turn a row's columns into the entry (a negative row: a flag)."""
        if value is not None:
            return bytes(value)
        return NativeNegative(neg_expires, tuple(neg_tags or ()))

    def get(self, key: str) -> Stored | None:
        """Return the live entry's bytes, or ``None`` when absent or expired.

        One ``EXECUTE`` of a prepared ``SELECT`` on the primary key.
        """
        row = self._run(fetch_one, self._sql["get"], (key,))
        if row is None:
            return None
        value, neg_expires, neg_tags = row
        if value is not None:
            return bytes(value)
        return NativeNegative(neg_expires, tuple(neg_tags or ()))

    def get_many(self, keys: Sequence[str]) -> list[Stored | None]:
        """Return one entry per key, in the keys' order, in one query."""
        if not keys:
            return []
        rows = self._run(fetch_all, self._sql["get_many"], (list(keys),))
        found = {row[0]: self._decode(row[1], row[2], row[3]) for row in rows}
        return [found.get(key) for key in keys]

    @staticmethod
    def _row(
        key: str,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool,
    ) -> tuple[str, bytes | None, bool, float | None, list[str]]:
        """Build the column values for one upsert.

        Only an entry the cache marks ``negative`` (a cached ``None`` with no
        signature to keep) is stored natively; a signed negative keeps its
        bytes (and MAC), so ``secret=`` covers negatives here too.
        """
        if negative:
            return key, None, True, ttl_param(ttl), list(tags)
        return key, data, False, ttl_param(ttl), list(tags)

    def set(
        self,
        key: str,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> None:
        """Upsert ``data`` with its tags; ``ttl`` seconds from the server's now.

        With ``negative``, the row is ``value NULL, is_none TRUE`` instead.
        """
        row = self._row(key, data, ttl, tags, negative)
        self._run(no_result, self._sql["set"], row)

    def set_many(self, items: Sequence[StoreItem]) -> None:
        """Upsert several entries in one ``INSERT ... ON CONFLICT`` statement.

        When a key repeats, the last item wins (as with consecutive ``set``).
        """
        if not items:
            return
        latest = {item.key: item for item in items}
        params: list[Any] = []
        for item in latest.values():
            params.extend(self._row(*item))
        statement = (
            self._sql["set_many_head"]
            + ", ".join([self._sql["set_many_row"]] * len(latest))
            + self._sql["set_many_tail"]
        )
        self._run(no_result, statement, params)

    def delete(self, key: str) -> bool:
        """Remove one key; tell whether a live entry was there."""
        return self._run(fetch_count, self._sql["delete"], (key,)) > 0

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove several keys in one statement; return how many were live."""
        if not keys:
            return 0
        return self._run(fetch_count, self._sql["delete_many"], (list(keys),))

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag`` (GIN index, no scan); count live."""
        return self._run(fetch_count, self._sql["invalidate_tag"], (tag,))

    def invalidate_pattern(self, pattern: str) -> int:
        """Remove keys matching the ``*`` wildcard; count the live ones.

        ``LIKE`` with ``\\`` as the escape character, so ``%``, ``_`` and ``\\``
        in keys are literal. A pattern without ``*`` is a primary-key delete.
        """
        if "*" not in pattern:
            return self._run(fetch_count, self._sql["delete"], (pattern,))
        return self._run(
            fetch_count,
            self._sql["invalidate_pattern"],
            (like_pattern(pattern), "\\"),
        )

    def clear(self) -> int:
        """Delete every row of the table (it is the store's own); count live."""
        return self._run(fetch_count, self._sql["clear"], ())

    def swap(
        self,
        key: str,
        expected: Stored | None,
        data: bytes,
        ttl: float | None,
        tags: Collection[str],
        negative: bool = False,
    ) -> bool:
        """Store like :meth:`set` only if the row still holds ``expected``.

        ``expected=None``: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` the
        existing row has expired (a live row is left alone). Otherwise an
        ``UPDATE`` of the live row whose value is still ``expected`` (for a
        negative entry: that it is still negative). One statement, atomic.

        Returns:
            Whether ``data`` was stored.
        """
        row = self._row(key, data, ttl, tags, negative)
        if expected is None:
            return self._run(row_count, self._sql["swap_absent"], row) == 1
        values: tuple[Any, ...] = (row[1], row[2], row[3], row[4], key)
        if isinstance(expected, NativeNegative):
            return self._run(row_count, self._sql["swap_negative"], values) == 1
        params = (*values, expected)
        return self._run(row_count, self._sql["swap_value"], params) == 1

    def cleanup_expired(self) -> int:
        """Delete the expired rows (partial index on ``expires_at``).

        Returns:
            The number of rows removed.

        .. versionadded:: 0.1
        """
        return self._run(row_count, self._sql["cleanup_expired"], ())

    def usage(self) -> PostgresUsage:
        """Count the table's rows (all, expired, negative) and measure its size.

        Raises:
            TierError: Postgres failed.

        .. versionadded:: 0.2
        """
        row = self._run(fetch_one, self._sql["usage"], ())
        rows, expired, negative, size = row if row is not None else (0, 0, 0, 0)
        return PostgresUsage(
            rows=int(rows),
            live_rows=int(rows) - int(expired),
            expired_rows=int(expired),
            negative_rows=int(negative),
            table_bytes=int(size),
        )

    def close(self) -> None:
        """Close the owned pool (a caller's pool stays open); idempotent.

        Later calls raise :class:`~hydracache_sync.errors.TierError`.
        """
        self._closed = True
        self._watchdog.close()
        if self._owns_pool and not self._pool.closed:
            with contextlib.suppress(Exception):  # closed concurrently: all gone
                self._pool.closeall()
