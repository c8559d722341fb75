"""PostgresStore's connections: its pool, the table check, one call with retries."""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
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
from hydracache_sync.tiers._postgres_sql import render_statements
from hydracache_sync.tiers._watchdog import Watchdog

if TYPE_CHECKING:
    from psycopg2.extensions import connection, cursor
    from psycopg2.pool import AbstractConnectionPool

__all__ = ["PostgresConnections", "Statements", "require_psycopg2"]

_T = TypeVar("_T")


# SQLSTATEs handled specially (see PostgresStore._failure).
_INVALID_STATEMENT_NAME = "26000"  # our prepared statement vanished (DISCARD ALL)
_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout: a timeout like statement_timeout


class Statements(dict[str, str]):
    """The rendered statements; a missing one runs the deferred table check."""

    def __init__(self, check: Callable[[], None]) -> None:
        super().__init__()
        self._check = check

    def __missing__(self, kind: str) -> str:
        self._check()  # fills this dict, or raises a TierError
        return dict.__getitem__(self, kind)


def require_psycopg2() -> None:
    """Import psycopg2 or raise MissingDependencyError naming the extra."""
    try:
        import psycopg2
        import psycopg2.pool
        import psycopg2.sql  # noqa: F401 - fail here, not mid-construction
    except ImportError as exc:
        raise MissingDependencyError(
            "PostgresStore needs psycopg2: pip install 'hydracache_sync[postgres]'"
        ) from exc


def _fileno(conn: connection) -> int:
    """The connection's socket descriptor, or -1 when it has none (closed)."""
    try:
        return int(conn.fileno())
    except Exception:
        return -1


class PostgresConnections:
    """The connection half of :class:`~hydracache_sync.tiers.postgres.PostgresStore`.

    A mixin: the pool, the deferred table check, fork handling and
    :meth:`_run`, the one way a call reaches the server. The store's
    constructor sets the attributes declared here.
    """

    _attempts: int
    _call_timeout: float
    _check_lock: threading.Lock
    _checked: bool
    _closed: bool
    _owns_pool: bool
    _pool: AbstractConnectionPool
    _pool_timeout: float
    _ready: weakref.WeakSet[connection]
    _reopen: Callable[[int], AbstractConnectionPool] | None
    _slots: queue.SimpleQueue[None]
    _sql: dict[str, str]
    _statements: dict[str, str]
    _watchdog: Watchdog
    name: str
    schema: str
    table: str

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
        return columns, has_unique_key, render_statements(cur, table)

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
