"""PostgresStore: the durable tier, envelope bytes in the migration's table.

The package's only importer of psycopg2, and only inside functions: importing
this module (or ``hydracache_sync``) works without the driver installed.

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
import hashlib
import math
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from hydracache_sync.errors import (
    ConfigError,
    MissingDependencyError,
    TierError,
    TierTimeoutError,
    TierUnavailableError,
)
from hydracache_sync.tiers import _fork
from hydracache_sync.tiers._pgcheck import table_problem
from hydracache_sync.tiers._pgpool import open_pool
from hydracache_sync.tiers._usage import PostgresUsage
from hydracache_sync.tiers._watchdog import Watchdog
from hydracache_sync.tiers.base import BaseTier, NativeNegative, Stored, StoreItem

if TYPE_CHECKING:
    from psycopg2.extensions import connection, cursor
    from psycopg2.pool import AbstractConnectionPool

__all__ = ["PostgresStore", "migration_sql"]

_T = TypeVar("_T")

#: An unquoted-style identifier of at most 63 bytes (PostgreSQL's NAMEDATALEN).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MAX_IDENTIFIER = 63

# SQLSTATEs handled specially (see PostgresStore._failure).
_INVALID_STATEMENT_NAME = "26000"  # our prepared statement vanished (DISCARD ALL)
_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout: a timeout like statement_timeout

# A row's liveness, shared by every read and every counting delete.
_LIVE = "(expires_at IS NULL OR expires_at > now())"


def _check_identifier(value: object, what: str) -> str:
    """Return ``value`` when it is a safe SQL identifier, else raise ConfigError."""
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None:
        raise ConfigError(
            f"invalid {what} name {value!r}: use 1-63 ASCII letters, digits and "
            "underscores, not starting with a digit"
        )
    return value


def _index_name(table: str, suffix: str) -> str:
    """Name an index after its table, shortened (uniquely) to fit 63 bytes.

    PostgreSQL would silently truncate a longer name, which could make the two
    index names collide with each other or with the table.
    """
    name = f"{table}_{suffix}"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    keep = _MAX_IDENTIFIER - len(suffix) - len(digest) - 2
    return f"{table[:keep]}_{digest}_{suffix}"


@cache
def _template() -> str:
    """Read the migration template shipped as package data."""
    path = resources.files("hydracache_sync").joinpath("sql").joinpath("migration.sql")
    return path.read_text(encoding="utf-8")


def migration_sql(schema: str = "public", table: str = "hydracache") -> str:
    """Return the runnable SQL that creates the store's table and indexes.

    Pure string work on the shipped template (``hydracache_sync/sql/
    migration.sql``); psycopg2 is not needed. The SQL is idempotent and expects
    ``schema`` to exist.

    Args:
        schema: The schema holding the table.
        table: The table name.

    Returns:
        ``CREATE TABLE IF NOT EXISTS``, a partial index on ``expires_at``, a GIN
        index on ``tags`` and a comment on every column, as one SQL script.

    Raises:
        ConfigError: ``schema`` or ``table`` is not a plain identifier.

    .. versionadded:: 0.1
    """
    _check_identifier(schema, "schema")
    _check_identifier(table, "table")
    # "--!" lines are notes about the template itself, not for the output.
    text = "".join(
        line
        for line in _template().splitlines(keepends=True)
        if not line.startswith("--!")
    )
    # The names are validated to [A-Za-z0-9_], so double quotes are an exact
    # quote_ident() here; str.replace keeps the template's '{}' literal intact.
    for placeholder, value in (
        ("{{schema}}", schema),
        ("{{table}}", table),
        ("{{expires_index}}", _index_name(table, "expires_at_idx")),
        ("{{tags_index}}", _index_name(table, "tags_idx")),
    ):
        text = text.replace(placeholder, value)
    return text


class _Statements(dict[str, str]):
    """The rendered statements; a missing one runs the deferred table check."""

    def __init__(self, check: Callable[[], None]) -> None:
        super().__init__()
        self._check = check

    def __missing__(self, kind: str) -> str:
        self._check()  # fills this dict, or raises a TierError
        return dict.__getitem__(self, kind)


def _require_psycopg2() -> None:
    """Import psycopg2 or raise MissingDependencyError naming the extra."""
    try:
        import psycopg2
        import psycopg2.pool
        import psycopg2.sql  # noqa: F401 - fail here, not mid-construction
    except ImportError as exc:
        raise MissingDependencyError(
            "PostgresStore needs psycopg2: pip install 'hydracache_sync[postgres]'"
        ) from exc


# Work functions for PostgresStore._run: module level so a call allocates no
# closure; each gets the cursor, the statement and its parameters.
def _fetch_one(cur: cursor, statement: str, params: Sequence[Any]) -> Any:
    cur.execute(statement, params)
    return cur.fetchone()


def _fetch_all(cur: cursor, statement: str, params: Sequence[Any]) -> Any:
    cur.execute(statement, params)
    return cur.fetchall()


def _fetch_count(cur: cursor, statement: str, params: Sequence[Any]) -> int:
    cur.execute(statement, params)
    row = cur.fetchone()
    return int(row[0]) if row is not None else 0


def _row_count(cur: cursor, statement: str, params: Sequence[Any]) -> int:
    cur.execute(statement, params)
    return max(cur.rowcount, 0)


def _no_result(cur: cursor, statement: str, params: Sequence[Any]) -> None:
    cur.execute(statement, params)


def _fileno(conn: connection) -> int:
    """The connection's socket descriptor, or -1 when it has none (closed)."""
    try:
        return int(conn.fileno())
    except Exception:
        return -1


def _like_pattern(pattern: str) -> str:
    """Translate a ``*`` wildcard into a LIKE pattern with ``\\`` as escape."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _ttl_param(ttl: float | None) -> float | None:
    """Return the ttl in seconds for SQL; ``None`` (or infinity) is no expiry."""
    if ttl is None or math.isinf(ttl):
        return None
    return float(ttl)


class PostgresStore(BaseTier):
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
        self.schema = _check_identifier(schema, "schema")
        self.table = _check_identifier(table, "table")
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
        _require_psycopg2()
        import psycopg2.pool

        self._closed = False
        self._owns_pool = False
        # Connections that carry our prepared statements. Weak, so a discarded
        # connection drops out; membership is the only operation (GIL-atomic).
        self._ready: weakref.WeakSet[connection] = weakref.WeakSet()
        self._statements: dict[str, str] = {}
        # Filled by the table check; a statement asked for before it ran (the
        # server was down at construction) runs the check first.
        self._sql: dict[str, str] = _Statements(self._check_now)
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

    # -- construction ---------------------------------------------------------

    def _open_pool(
        self,
        dsn: str,
        min_connections: int,
        max_connections: int,
        connect_timeout: float,
        statement_timeout_ms: int | None,
        call_timeout: float,
    ) -> AbstractConnectionPool:
        """Open the store's own bounded pool (see the class docstring)."""
        import psycopg2
        import psycopg2.extensions
        import psycopg2.pool

        try:
            params = psycopg2.extensions.parse_dsn(dsn)
        except psycopg2.Error as exc:
            raise ConfigError(f"invalid PostgreSQL DSN: {exc}") from exc
        kwargs: dict[str, str] = {"connect_timeout": str(math.ceil(connect_timeout))}
        if statement_timeout_ms is not None:
            option = f"-c statement_timeout={int(statement_timeout_ms)}"
            existing = params.get("options")
            kwargs["options"] = f"{existing} {option}" if existing else option
        if "application_name" not in params:
            kwargs["application_name"] = "hydracache_sync"
        # A dead peer (host gone, cable cut) is noticed by the kernel: idle
        # connections by keepalives, unacknowledged writes by tcp_user_timeout.
        # A frozen server that still acknowledges needs the watchdog (_run).
        tcp = {
            "keepalives": "1",
            "keepalives_idle": "5",
            "keepalives_interval": "2",
            "keepalives_count": "3",
            "tcp_user_timeout": str(math.ceil(call_timeout * 1000)),
        }
        kwargs.update({k: v for k, v in tcp.items() if k not in params})
        try:
            pool: AbstractConnectionPool = open_pool(
                psycopg2, min_connections, max_connections, dsn, **kwargs
            )
        except psycopg2.Error as exc:
            raise self._translate(exc) from exc
        # psycopg2 closes any returned connection once `minconn` are idle, which
        # would make a multi-threaded cache reconnect on most calls; `minconn`
        # is only read there after __init__, so raise it to keep them all.
        pool.minconn = max_connections
        return pool

    def ensure_ready(self) -> None:
        """Check the table now if the server was down at construction.

        Raises:
            TierUnavailableError: The server still cannot be reached.
            ConfigError: The table is missing or does not match.

        .. versionadded:: 0.2
        """
        if not self._checked:
            with self._check_lock:
                if not self._checked:
                    self._setup()

    def _check_now(self) -> None:
        """Run the deferred table check for a statement (any failure a TierError).

        Under ``on_tier_error="degrade"`` the call then fails over like any tier
        error (counted, breaker, warning naming the migration if the table is
        wrong) until the check passes.
        """
        try:
            self.ensure_ready()
        except ConfigError as exc:
            raise TierUnavailableError(str(exc), tier=self.name) from exc

    def after_fork_in_child(self) -> None:
        """In a forked child: never use (or end) a connection of the parent's.

        Every connection in the pool is detached from its socket (see
        ``tiers._fork``); an owned pool is replaced by a new one that connects
        on first use. A caller's pool keeps its (now dead) connections, which
        are discarded and replaced on first use by the retry logic.
        """
        pool = self._pool
        inherited = [
            *getattr(pool, "_pool", ()),
            *getattr(pool, "_used", {}).values(),  # None: a slot being connected
        ]
        _fork.detach(conn.fileno for conn in inherited if conn is not None)
        self._ready = weakref.WeakSet()
        self._check_lock = threading.Lock()
        # Slots taken by the parent's threads would never come back here.
        self._slots = queue.SimpleQueue()
        for _ in range(max(int(pool.maxconn), 1)):
            self._slots.put(None)
        if self._reopen is not None and not self._closed:
            with contextlib.suppress(Exception):  # their sockets are /dev/null now
                pool.closeall()
            self._pool = self._reopen(0)

    def _setup(self) -> None:
        """Check the table and render the statements (two small queries)."""
        columns, has_unique_key, rendered = self._run(
            self._inspect, "", (), prepare=False
        )
        schema_exists = bool(columns) or self._run(
            self._schema_exists, "", (), prepare=False
        )
        problem = table_problem(
            self.schema,
            self.table,
            schema_exists=schema_exists,
            columns=columns,
            has_unique_key=has_unique_key,
        )
        if problem is not None:
            raise ConfigError(problem)
        sql, self._statements = rendered
        self._sql.update(sql)
        self._checked = True

    def _schema_exists(
        self, cur: cursor, _statement: str, _params: Sequence[Any]
    ) -> bool:
        """Whether the store's schema exists (asked only when the table is missing)."""
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)",
            (self.schema,),
        )
        row = cur.fetchone()
        return bool(row and row[0])

    def _inspect(
        self, cur: cursor, _statement: str, _params: Sequence[Any]
    ) -> tuple[dict[str, str], bool, tuple[dict[str, str], dict[str, str]]]:
        """Read the table's columns and key index; render every statement."""
        import psycopg2.sql as sql

        cur.execute(
            "SELECT column_name, udt_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s",
            (self.schema, self.table),
        )
        columns = {str(name): str(udt) for name, udt in cur.fetchall()}
        table = sql.Identifier(self.schema, self.table)
        qualified = table.as_string(cur)
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE i.indrelid = to_regclass(%s) AND i.indisunique"
            " AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = 'key')",
            (qualified,),
        )
        row = cur.fetchone()
        has_unique_key = bool(row and row[0])
        return columns, has_unique_key, self._render(cur, table)

    def _render(self, cur: cursor, table: Any) -> tuple[dict[str, str], dict[str, str]]:
        """Render the statements once, with the quoted table name.

        The read path and ``set`` become server-side prepared statements
        (PREPARE once per connection, then EXECUTE): parse and plan happen once
        per connection instead of once per call. A negative row is the only one
        that pays for its expiry and tags (the CASEs are NULL otherwise).

        Returns:
            ``(statements, prepare)``: the SQL each method runs, by method, and
            the ``PREPARE`` statement of each prepared statement, by its name.
        """
        import psycopg2.sql as sql

        fragments = {
            "table": table,
            "regclass": sql.Literal(table.as_string(cur)),
            "live": sql.SQL(_LIVE),
            "columns": sql.SQL(
                "value,"
                " CASE WHEN is_none THEN extract(epoch FROM expires_at)::float8 END,"
                " CASE WHEN is_none THEN tags END"
            ),
            "upsert": sql.SQL(
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
                " is_none = EXCLUDED.is_none, expires_at = EXCLUDED.expires_at,"
                " tags = EXCLUDED.tags, created_at = EXCLUDED.created_at"
            ),
        }

        def render(template: str, where: str = "") -> str:
            composed = sql.SQL(template).format(where=sql.SQL(where), **fragments)
            return composed.as_string(cur)

        prepared = {
            "get": (
                ("text",),
                "SELECT {columns} FROM {table} WHERE key = $1 AND {live}",
            ),
            "get_many": (
                ("text[]",),
                "SELECT key, {columns} FROM {table} WHERE key = ANY($1) AND {live}",
            ),
            "set": (
                ("text", "bytea", "boolean", "float8", "text[]"),
                "INSERT INTO {table} (key, value, is_none, expires_at, tags)"
                " VALUES ($1, $2, $3, now() + $4 * interval '1 second', $5){upsert}",
            ),
        }
        statements: dict[str, str] = {}
        prepare: dict[str, str] = {}
        for kind, (types, template) in prepared.items():
            head = f"({', '.join(types)}) AS {render(template)}"
            # Named after the statement's text: stores sharing a caller's pool
            # and table share it, and a changed statement gets a new name.
            digest = hashlib.sha256(head.encode()).hexdigest()[:16]
            name = f"hydracache_{kind}_{digest}"
            prepare[name] = f"PREPARE {name} {head}"
            statements[kind] = f"EXECUTE {name} ({', '.join(['%s'] * len(types))})"

        # set_many: head + one row per entry + tail, one statement.
        statements["set_many_head"] = render(
            "INSERT INTO {table} (key, value, is_none, expires_at, tags) VALUES "
        )
        statements["set_many_row"] = (
            "(%s, %s, %s, now() + %s::float8 * interval '1 second', %s::text[])"
        )
        statements["set_many_tail"] = render("{upsert}")
        # A removal counts only the rows that were still live (module docstring).
        counting_delete = (
            "WITH removed AS (DELETE FROM {table} WHERE {where} RETURNING expires_at)"
            " SELECT count(*) FROM removed WHERE {live}"
        )
        for kind, where in (
            ("delete", "key = %s"),
            ("delete_many", "key = ANY(%s)"),
            ("invalidate_tag", "tags @> ARRAY[%s]::text[]"),
            ("invalidate_pattern", "key LIKE %s ESCAPE %s"),
            ("clear", "TRUE"),
        ):
            statements[kind] = render(counting_delete, where)
        # swap(): take an absent or expired key, or replace a live row whose
        # value (or negative marker) is still the one read.
        update = (
            "UPDATE {table} SET value = %s, is_none = %s,"
            " expires_at = now() + %s::float8 * interval '1 second',"
            " tags = %s::text[], created_at = now() WHERE key = %s AND {live}"
        )
        statements["swap_absent"] = render(
            "INSERT INTO {table} AS t (key, value, is_none, expires_at, tags)"
            " VALUES (%s, %s, %s, now() + %s::float8 * interval '1 second',"
            " %s::text[]) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
            " is_none = EXCLUDED.is_none, expires_at = EXCLUDED.expires_at,"
            " tags = EXCLUDED.tags, created_at = EXCLUDED.created_at"
            " WHERE t.expires_at IS NOT NULL AND t.expires_at <= now()"
        )
        statements["swap_value"] = render(update + " AND value = %s")
        statements["swap_negative"] = render(update + " AND is_none")
        statements["cleanup_expired"] = render(
            "DELETE FROM {table} WHERE expires_at <= now()"
        )
        statements["usage"] = render(
            "SELECT count(*), count(*) FILTER (WHERE expires_at <= now()),"
            " count(*) FILTER (WHERE is_none),"
            " pg_total_relation_size({regclass}::regclass) FROM {table}"
        )
        return statements, prepare

    # -- the one connection helper ----------------------------------------------

    def _run(
        self,
        work: Callable[[cursor, str, Sequence[Any]], _T],
        statement: str,
        params: Sequence[Any],
        *,
        prepare: bool = True,
    ) -> _T:
        """Run ``work(cursor, statement, params)`` on a pooled connection.

        Takes a connection, prepares it on first use, runs the work, commits
        when the connection is not in autocommit, and returns the connection,
        or closes it instead when it is broken (never handing a dead connection
        back to the pool). Driver errors leave as TierError subclasses, chained
        with ``from``; see :meth:`_failure` for the mapping and the retries.
        """
        if self._closed:
            raise TierError(f"{self.name}: the store is closed", tier=self.name)
        deadline = time.monotonic() + self._call_timeout
        wait = min(self._pool_timeout, self._call_timeout)
        try:
            self._slots.get(timeout=wait)
        except queue.Empty:
            raise TierTimeoutError(
                f"{self.name}: no free connection within {wait:g}s "
                f"(max_connections={self._pool.maxconn})",
                tier=self.name,
            ) from None
        try:
            return self._attempt(work, statement, params, prepare, deadline)
        finally:
            self._slots.put(None)

    def _attempt(
        self,
        work: Callable[[cursor, str, Sequence[Any]], _T],
        statement: str,
        params: Sequence[Any],
        prepare: bool,
        deadline: float,
    ) -> _T:
        pool = self._pool
        attempts = self._attempts
        watchdog = self._watchdog
        while True:
            attempts -= 1
            try:
                conn = pool.getconn()
            except Exception as exc:
                raise self._translate(exc) from exc  # psycopg2.Error only
            discard = True  # until proven healthy; covers KeyboardInterrupt too
            token = watchdog.arm(_fileno(conn), deadline)
            try:
                if prepare and conn not in self._ready:
                    self._prepare(conn)
                with conn.cursor() as cur:
                    result = work(cur, statement, params)
                if not conn.autocommit:
                    conn.commit()
                discard = False
                return result
            except Exception as exc:
                if watchdog.disarm(token):
                    discard = True
                    raise TierTimeoutError(
                        f"{self.name}: no reply within {self._call_timeout:g}s "
                        "(client-side deadline; the connection was cut)",
                        tier=self.name,
                    ) from exc
                retry, discard = self._failure(conn, exc)
                if not (retry and attempts > 0 and time.monotonic() < deadline):
                    if not self._is_driver_error(exc):
                        raise  # a bug, not a tier failure: keep its traceback
                    raise self._translate(exc, dead=bool(conn.closed)) from exc
            finally:
                if watchdog.disarm(token):  # cut just as the call ended
                    discard = True
                self._release(conn, discard)

    def _prepare(self, conn: connection) -> None:
        """Give a connection its settings and prepared statements, once."""
        if self._owns_pool and not conn.autocommit:
            conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)",
                (list(self._statements),),
            )
            present = {row[0] for row in cur.fetchall()}
            for name, statement in self._statements.items():
                if name not in present:
                    cur.execute(statement)
        self._ready.add(conn)

    def _failure(self, conn: connection, exc: Exception) -> tuple[bool, bool]:
        """Classify a failed attempt: return ``(retry, discard_connection)``.

        * Not a driver error (a bug, an interrupt): discard, no retry.
        * The connection is dead: discard and retry on another connection.
        * Our prepared statement vanished (someone ran DISCARD ALL): prepare
          again and retry on the same connection.
        * A statement or lock timeout: the connection is healthy, keep it (a
          reconnect per timeout would only add load to a slow server).
        * Any other OperationalError/InterfaceError: discard, no retry.
        * Anything else (SQL errors): keep the connection, rolled back.
        """
        import psycopg2
        import psycopg2.extensions

        if not isinstance(exc, psycopg2.Error):
            return False, True
        if conn.closed:
            return True, True
        if getattr(exc, "pgcode", None) == _INVALID_STATEMENT_NAME:
            self._ready.discard(conn)
            return True, not self._rollback(conn)
        is_timeout = isinstance(exc, psycopg2.extensions.QueryCanceledError) or (
            getattr(exc, "pgcode", None) == _LOCK_NOT_AVAILABLE
        )
        if not is_timeout and isinstance(
            exc, (psycopg2.OperationalError, psycopg2.InterfaceError)
        ):
            return False, True
        return False, not self._rollback(conn)

    @staticmethod
    def _rollback(conn: connection) -> bool:
        """End a failed transaction on a non-autocommit connection; tell success."""
        if conn.autocommit:
            return True
        try:
            conn.rollback()
        except Exception:
            return False
        return True

    def _release(self, conn: connection, discard: bool) -> None:
        """Return ``conn`` to the pool, or close it there when ``discard``."""
        try:
            self._pool.putconn(conn, close=discard or bool(conn.closed))
        except Exception:
            # The pool was closed meanwhile (close() from another thread): it
            # no longer tracks the connection, so just make sure it is closed.
            with contextlib.suppress(Exception):
                conn.close()

    @staticmethod
    def _is_driver_error(exc: BaseException) -> bool:
        """Tell whether ``exc`` comes from psycopg2 (or its pool)."""
        import psycopg2

        return isinstance(exc, psycopg2.Error)

    def _translate(self, exc: BaseException, *, dead: bool = False) -> TierError:
        """Map a driver error to the TierError subclass the core expects.

        Timeouts become TierTimeoutError; connection problems (``dead``: the
        connection was lost, whatever class psycopg2 chose for it) become
        TierUnavailableError; anything else, pool exhaustion included, is a
        plain TierError.
        """
        import psycopg2
        import psycopg2.extensions

        message = f"{self.name}: {type(exc).__name__}: {str(exc).strip()}"
        if isinstance(exc, psycopg2.extensions.QueryCanceledError) or (
            getattr(exc, "pgcode", None) == _LOCK_NOT_AVAILABLE
        ):
            return TierTimeoutError(message, tier=self.name)
        if dead or isinstance(
            exc, (psycopg2.OperationalError, psycopg2.InterfaceError)
        ):
            return TierUnavailableError(message, tier=self.name)
        return TierError(message, tier=self.name)

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
        row = self._run(_fetch_one, self._sql["get"], (key,))
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
        rows = self._run(_fetch_all, self._sql["get_many"], (list(keys),))
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
            return key, None, True, _ttl_param(ttl), list(tags)
        return key, data, False, _ttl_param(ttl), list(tags)

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
        self._run(_no_result, self._sql["set"], row)

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
        self._run(_no_result, statement, params)

    def delete(self, key: str) -> bool:
        """Remove one key; tell whether a live entry was there."""
        return self._run(_fetch_count, self._sql["delete"], (key,)) > 0

    def delete_many(self, keys: Sequence[str]) -> int:
        """Remove several keys in one statement; return how many were live."""
        if not keys:
            return 0
        return self._run(_fetch_count, self._sql["delete_many"], (list(keys),))

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag`` (GIN index, no scan); count live."""
        return self._run(_fetch_count, self._sql["invalidate_tag"], (tag,))

    def invalidate_pattern(self, pattern: str) -> int:
        """Remove keys matching the ``*`` wildcard; count the live ones.

        ``LIKE`` with ``\\`` as the escape character, so ``%``, ``_`` and ``\\``
        in keys are literal. A pattern without ``*`` is a primary-key delete.
        """
        if "*" not in pattern:
            return self._run(_fetch_count, self._sql["delete"], (pattern,))
        return self._run(
            _fetch_count,
            self._sql["invalidate_pattern"],
            (_like_pattern(pattern), "\\"),
        )

    def clear(self) -> int:
        """Delete every row of the table (it is the store's own); count live."""
        return self._run(_fetch_count, self._sql["clear"], ())

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
            return self._run(_row_count, self._sql["swap_absent"], row) == 1
        values: tuple[Any, ...] = (row[1], row[2], row[3], row[4], key)
        if isinstance(expected, NativeNegative):
            return self._run(_row_count, self._sql["swap_negative"], values) == 1
        params = (*values, expected)
        return self._run(_row_count, self._sql["swap_value"], params) == 1

    def cleanup_expired(self) -> int:
        """Delete the expired rows (partial index on ``expires_at``).

        Returns:
            The number of rows removed.

        .. versionadded:: 0.1
        """
        return self._run(_row_count, self._sql["cleanup_expired"], ())

    def usage(self) -> PostgresUsage:
        """Count the table's rows (all, expired, negative) and measure its size.

        Raises:
            TierError: Postgres failed.

        .. versionadded:: 0.2
        """
        row = self._run(_fetch_one, self._sql["usage"], ())
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
