"""Flask-Caching backend: keep ``@cache.cached``/``@cache.memoize``, gain the tiers.

::

    app.config["CACHE_TYPE"] = "hydracache_sync.flask_caching.HydraCache"
    app.config["CACHE_REDIS_URL"] = "redis://127.0.0.1:6379/0"  # optional
    cache = Cache(app)                      # flask_caching.Cache, unchanged

Read from the app config: ``CACHE_REDIS_URL`` (the shared tier; none: memory
only), ``CACHE_KEY_PREFIX``, ``CACHE_DEFAULT_TIMEOUT`` and the
``HYDRACACHE_*`` keys of :mod:`hydracache_sync.flask` (``HYDRACACHE_PREFIX``,
``HYDRACACHE_POSTGRES_DSN``, ``HYDRACACHE_MAX_BYTES``, ``HYDRACACHE_SECRET``,
``HYDRACACHE_LOCK``, ...). Timeouts follow Flask-Caching: ``0`` is forever,
``None`` the default timeout; a negative one expires at once.

Single-flight: concurrent misses of one key in ``@cache.cached`` and
``@cache.memoize`` run the function once per process; the others wait for its
value (see :class:`MissLeases`; ``HYDRACACHE_SINGLE_FLIGHT`` = seconds to
wait at most, ``0`` turns it off).

Values CBOR cannot hold are pickled, signed with HMAC-SHA256 under a key
derived from ``HYDRACACHE_SECRET`` or else the app's ``SECRET_KEY``; with
neither, such values raise ``CodecError``. An unsigned or forged pickle is
never unpickled. Backends with the same configuration share one engine per
process.

.. versionadded:: 0.2
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import CodeType, FrameType
from typing import Any

from ._appconfig import cache_from_config, postgres_only_plan
from ._cache import HydraCache as Engine
from ._codec import CborCodec, Codec
from ._frameworks import EngineRegistry, SignedPickleCodec, derive_key, framework_key
from ._options import TTL, Expires
from .errors import MissingDependencyError

try:
    import flask_caching
    from flask_caching.backends.base import BaseCache
except ImportError as exc:  # pragma: no cover - exercised without flask-caching
    raise MissingDependencyError(
        "hydracache_sync.flask_caching needs Flask-Caching: "
        "pip install 'hydracache_sync[flask-caching]'"
    ) from exc

__all__ = ["HydraCache", "MissLeases", "close_engines"]

_FLASK_CACHING_DIR = os.path.dirname(flask_caching.__file__)

_engines = EngineRegistry()
_MISSING: Any = object()


class _Lease:
    """A miss being filled: the thread filling it and the decorator frame it runs."""

    __slots__ = ("code", "done", "frame_id", "owner")

    def __init__(self, frame: FrameType) -> None:
        self.owner = threading.get_ident()
        self.frame_id = id(frame)
        self.code: CodeType = frame.f_code
        self.done = threading.Event()

    def alive(self) -> bool:
        """Whether the owner is still inside the decorator call that missed."""
        frame: FrameType | None = sys._current_frames().get(self.owner)
        while frame is not None:
            if id(frame) == self.frame_id and frame.f_code is self.code:
                return True
            frame = frame.f_back
        return False


class MissLeases:
    """Single-flight for Flask-Caching's ``@cached``/``@memoize`` (one process).

    Their wrappers call ``get``, then the function, then ``set``, which a
    backend cannot wrap. So a ``get`` that misses *from inside one of those
    wrappers* takes a lease on the key; concurrent wrapped ``get`` calls of the
    key wait until the leaseholder stores it (or deletes it), then read the
    value. If the holder leaves its wrapper without storing (its function
    raised, or ``response_filter`` refused the value), the waiters notice
    within ``poll`` seconds and one of them takes over. No waiter waits
    longer than ``wait`` seconds. A ``get`` from anywhere else never waits.
    """

    def __init__(self, wait: float = 30.0, poll: float = 0.01) -> None:
        self._wait = wait
        self._poll = poll
        self._lock = threading.Lock()
        self._held: dict[str, _Lease] = {}

    def miss(self, key: str, frame: FrameType, read: Callable[[], Any]) -> Any:
        """After a miss of ``key``: lead (return ``_MISSING``) or wait for the value."""
        deadline = time.monotonic() + self._wait
        while True:
            with self._lock:
                lease = self._held.get(key)
                if lease is not None and lease.owner == threading.get_ident():
                    return _MISSING  # re-entered on the leader's thread: never wait
                if lease is None or not lease.alive():
                    if len(self._held) >= 1024:
                        self._sweep()
                    lease = self._held[key] = _Lease(frame)
                    mine = True
                else:
                    mine = False
            if mine:
                # The last holder may have stored the value between our miss
                # and our lease: read once more (later arrivals wait for us).
                value = read()
                if value is not _MISSING:
                    self.release(key)
                return value
            while not lease.done.wait(self._poll):
                if time.monotonic() >= deadline:
                    return read()
                if not lease.alive():
                    break
            value = read()
            if value is not _MISSING or time.monotonic() >= deadline:
                return value

    def release(self, key: str) -> None:
        """The key was stored or deleted: wake its waiters."""
        if self._held:
            with self._lock:
                lease = self._held.pop(key, None)
            if lease is not None:
                lease.done.set()

    def _sweep(self) -> None:
        """Forget leases whose holder left without storing (lock held)."""
        for key in [k for k, lease in self._held.items() if not lease.alive()]:
            del self._held[key]


def _wrapper_frame(name: str) -> FrameType | None:
    """The Flask-Caching frame of function ``name`` calling us, if it is one.

    The call chains are ``decorated_function`` (``@cached``/``@memoize``) ->
    ``Cache.get`` -> our ``get``, and ``_memoize_version`` (the version keys
    every memoized call reads, and creates on first use) -> ``Cache.get_many``
    -> our ``get_many``.
    """
    try:
        frame: FrameType | None = sys._getframe(3)
    except ValueError:  # a shallower stack: not called by Flask-Caching
        return None
    if frame is None or frame.f_code.co_name != name:
        return None
    if os.path.dirname(frame.f_code.co_filename) != _FLASK_CACHING_DIR:
        return None
    return frame


def _build(config: Mapping[str, Any], codec: Codec) -> Engine:
    plan = postgres_only_plan(
        config.get("HYDRACACHE_REDIS_URL"), config.get("HYDRACACHE_POSTGRES_DSN")
    )
    return cache_from_config(config, codec=codec, plan=plan)


def close_engines() -> None:
    """Close every engine this module built (at process exit, or in tests)."""
    _engines.close_all()


class HydraCache(BaseCache):
    """A Flask-Caching backend over a HydraCache engine.

    Args:
        default_timeout: Seconds for ``set`` without a timeout (0: forever).
        key_prefix: Put before every key (a str, or a callable returning one).
        redis_url: Adds the shared Redis tier.
        config: ``HYDRACACHE_*`` settings (see :mod:`hydracache_sync.flask`).
        secret: Signs pickled values (default: ``HYDRACACHE_SECRET``).
        engine: Use this engine instead of the shared one for the config.
        single_flight: Seconds a concurrent miss of ``@cached``/``@memoize``
            waits for the first one's value (:class:`MissLeases`); ``0`` off.
        ignore_delete_many_errors: As for Flask-Caching's own backends.

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        default_timeout: int = 300,
        key_prefix: str | Callable[[], str] = "",
        redis_url: str | None = None,
        config: Mapping[str, Any] | None = None,
        secret: str | bytes | None = None,
        engine: Engine | None = None,
        ignore_delete_many_errors: bool = False,
        single_flight: float = 30.0,
    ) -> None:
        super().__init__(
            default_timeout=default_timeout,
            ignore_delete_many_errors=ignore_delete_many_errors,
        )
        self.key_prefix = key_prefix
        if engine is None:
            settings = dict(config or {})
            if redis_url:
                settings["HYDRACACHE_REDIS_URL"] = redis_url
            secret = secret or settings.get("HYDRACACHE_SECRET")
            codec: Codec = (
                CborCodec() if not secret else SignedPickleCodec([derive_key(secret)])
            )
            key = (tuple(sorted((k, repr(v)) for k, v in settings.items())), secret)
            engine = _engines.get(key, lambda: _build(settings, codec))
        self._engine = engine
        self._leases = MissLeases(single_flight) if single_flight > 0 else None

    @classmethod
    def factory(
        cls,
        app: Any,
        config: dict[str, Any],
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> HydraCache:
        """Build the backend from the app config (called by ``Cache.init_app``)."""
        settings = {k: v for k, v in config.items() if k.startswith("HYDRACACHE_")}
        kwargs.setdefault("key_prefix", config.get("CACHE_KEY_PREFIX") or "")
        kwargs.setdefault("redis_url", config.get("CACHE_REDIS_URL"))
        kwargs["config"] = settings
        kwargs.setdefault(
            "secret", settings.get("HYDRACACHE_SECRET") or config.get("SECRET_KEY")
        )
        if "HYDRACACHE_SINGLE_FLIGHT" in settings:
            kwargs.setdefault("single_flight", settings["HYDRACACHE_SINGLE_FLIGHT"])
        return cls(*args, **kwargs)

    @property
    def engine(self) -> Engine:
        """The HydraCache engine (shared by backends with the same config)."""
        return self._engine

    def _key(self, key: str) -> str:
        prefix = self.key_prefix() if callable(self.key_prefix) else self.key_prefix
        return framework_key(f"{prefix}{key}")

    def _ttl(self, timeout: int | float | dt.timedelta | None) -> TTL:
        """Flask-Caching's timeout as ours: 0 forever, None default, < 0 at once."""
        if timeout is None:
            timeout = self.default_timeout
        if isinstance(timeout, dt.timedelta):
            timeout = timeout.total_seconds()
        if timeout == 0:
            return Expires.NEVER
        return 0 if timeout < 0 else float(timeout)

    # -- the cachelib API --------------------------------------------------------------

    def get(self, key: str) -> Any:
        """Return the value or ``None`` (a wrapped miss may wait: MissLeases)."""
        full = self._key(key)
        value = self._engine.get(full, _MISSING)
        if value is not _MISSING:
            return value
        if self._leases is not None:
            frame = _wrapper_frame("decorated_function")
            if frame is not None:
                value = self._leases.miss(
                    full, frame, lambda: self._engine.get(full, _MISSING)
                )
                if value is not _MISSING:
                    return value
        return None

    def set(
        self, key: str, value: Any, timeout: int | dt.timedelta | None = None
    ) -> bool:
        """Store ``value``; always ``True`` (a failing tier degrades)."""
        full = self._key(key)
        try:
            self._engine.set(full, value, ttl=self._ttl(timeout))
        finally:
            self._release(full)
        return True

    def add(
        self, key: str, value: Any, timeout: int | dt.timedelta | None = None
    ) -> bool:
        """Store only if absent (atomic in the base tier)."""
        full = self._key(key)
        try:
            return self._engine.add(full, value, ttl=self._ttl(timeout))
        finally:
            self._release(full)

    def delete(self, key: str) -> bool:
        """Remove ``key`` from every tier; tell whether it was there."""
        full = self._key(key)
        try:
            return self._engine.delete(full)
        finally:
            self._release(full)

    def _release(self, full: str) -> None:
        if self._leases is not None:
            self._leases.release(full)

    def get_many(self, *keys: str) -> list[Any]:
        """Return the values in order (``None`` for missing keys)."""
        full = [self._key(key) for key in keys]
        found = self._engine.get_many(full)
        if len(found) < len(full) and self._leases is not None:
            # Two first calls of a memoized function would each make up a
            # version (so two keys, two calls): the second waits for the first.
            frame = _wrapper_frame("_memoize_version")
            if frame is not None:
                for key in full:
                    if key not in found:
                        value = self._leases.miss(
                            key,
                            frame,
                            functools.partial(self._engine.get, key, _MISSING),
                        )
                        if value is not _MISSING:
                            found[key] = value
        return [found.get(key) for key in full]

    def set_many(
        self, mapping: dict[str, Any], timeout: int | dt.timedelta | None = None
    ) -> list[Any]:
        """Store several values; return the keys stored (all of them)."""
        items = {self._key(key): value for key, value in mapping.items()}
        try:
            self._engine.set_many(items, ttl=self._ttl(timeout))
        finally:
            for full in items:
                self._release(full)
        return list(mapping)

    def delete_many(self, *keys: str) -> list[Any]:
        """Remove several keys; return them (absent afterwards, so deleted)."""
        full = [self._key(key) for key in keys]
        try:
            self._engine.delete_many(full)
        finally:
            for one in full:
                self._release(one)
        return list(keys)

    def has(self, key: str) -> bool:
        """Tell whether ``key`` holds a value."""
        return self._engine.contains(self._key(key))

    def clear(self) -> bool:
        """Remove everything the engine owns."""
        self._engine.clear()
        return True

    def inc(self, key: str, delta: int = 1) -> int:
        """Increment atomically; a missing key starts at 0."""
        return self._engine.incr(self._key(key), delta, initial=0)

    def dec(self, key: str, delta: int = 1) -> int:
        """Decrement atomically; a missing key starts at 0."""
        return self._engine.decr(self._key(key), delta, initial=0)
