"""The store's own psycopg2 pool: connections are opened outside the pool's lock.

psycopg2's ``ThreadedConnectionPool`` opens a new connection while holding its
lock, so against a server that hangs, each caller waits for every connect
queued before its own (``connect_timeout`` each, one after the other). The
subclass built here reserves the slot under the lock and connects without it,
so every caller waits for its own connect only. ``tiers/postgres.py`` (the
only importer of psycopg2) hands in the driver module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["open_pool"]

_classes: dict[int, Any] = {}


def _pool_class(psycopg2: Any) -> Any:
    known = _classes.get(id(psycopg2))
    if known is not None:
        return known
    base = psycopg2.pool.ThreadedConnectionPool
    pool_error = psycopg2.pool.PoolError

    class ConcurrentConnectPool(base):  # type: ignore[misc,valid-type]
        """A ThreadedConnectionPool whose new connections open in parallel."""

        def getconn(self, key: Any = None) -> Any:
            if key is not None:
                return super().getconn(key)
            with self._lock:
                if self.closed or self._pool:
                    return self._getconn()  # an idle connection, or the error
                if len(self._used) >= self.maxconn:
                    raise pool_error("connection pool exhausted")
                key = self._getkey()
                self._used[key] = None  # the slot, reserved while connecting
            try:
                conn = psycopg2.connect(*self._args, **self._kwargs)
            except BaseException:
                with self._lock:
                    self._used.pop(key, None)
                raise
            with self._lock:
                if self.closed:
                    conn.close()
                    raise pool_error("connection pool is closed")
                self._used[key] = conn
                self._rused[id(conn)] = key
            return conn

    _classes[id(psycopg2)] = ConcurrentConnectPool
    return ConcurrentConnectPool


def open_pool(
    psycopg2: Any, min_connections: int, max_connections: int, dsn: str, **kwargs: str
) -> Any:
    """Open a pool like ``ThreadedConnectionPool(min, max, dsn, **kwargs)``.

    Args:
        psycopg2: The driver module (with ``psycopg2.pool`` imported).

    Raises:
        psycopg2.Error: The first ``min_connections`` cannot be opened.
    """
    return _pool_class(psycopg2)(min_connections, max_connections, dsn, **kwargs)
