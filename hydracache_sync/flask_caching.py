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

Values CBOR cannot hold are pickled, signed with HMAC-SHA256 under a key
derived from ``HYDRACACHE_SECRET`` or else the app's ``SECRET_KEY``; with
neither, such values raise ``CodecError``. An unsigned or forged pickle is
never unpickled. Backends with the same configuration share one engine per
process.

.. versionadded:: 0.2
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ._cache import HydraCache as Engine
from ._codec import CborCodec, Codec
from ._frameworks import EngineRegistry, SignedPickleCodec, derive_key
from ._options import TTL, Expires
from .errors import MissingDependencyError

try:
    from flask_caching.backends.base import BaseCache
except ImportError as exc:  # pragma: no cover - exercised without flask-caching
    raise MissingDependencyError(
        "hydracache_sync.flask_caching needs Flask-Caching: "
        "pip install 'hydracache_sync[flask-caching]'"
    ) from exc

__all__ = ["HydraCache", "close_engines"]

_engines = EngineRegistry()


def _build(config: Mapping[str, Any], codec: Codec) -> Engine:
    from .flask import cache_from_config

    return cache_from_config(config, codec=codec)


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
        return cls(*args, **kwargs)

    @property
    def engine(self) -> Engine:
        """The HydraCache engine (shared by backends with the same config)."""
        return self._engine

    def _key(self, key: str) -> str:
        prefix = self.key_prefix() if callable(self.key_prefix) else self.key_prefix
        return f"{prefix}{key}"

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
        """Return the value or ``None``."""
        return self._engine.get(self._key(key))

    def set(
        self, key: str, value: Any, timeout: int | dt.timedelta | None = None
    ) -> bool:
        """Store ``value``; always ``True`` (a failing tier degrades)."""
        self._engine.set(self._key(key), value, ttl=self._ttl(timeout))
        return True

    def add(
        self, key: str, value: Any, timeout: int | dt.timedelta | None = None
    ) -> bool:
        """Store only if absent (atomic in the base tier)."""
        return self._engine.add(self._key(key), value, ttl=self._ttl(timeout))

    def delete(self, key: str) -> bool:
        """Remove ``key`` from every tier; tell whether it was there."""
        return self._engine.delete(self._key(key))

    def get_many(self, *keys: str) -> list[Any]:
        """Return the values in order (``None`` for missing keys)."""
        full = [self._key(key) for key in keys]
        found = self._engine.get_many(full)
        return [found.get(key) for key in full]

    def set_many(
        self, mapping: dict[str, Any], timeout: int | dt.timedelta | None = None
    ) -> list[Any]:
        """Store several values; return the keys stored (all of them)."""
        self._engine.set_many(
            {self._key(key): value for key, value in mapping.items()},
            ttl=self._ttl(timeout),
        )
        return list(mapping)

    def delete_many(self, *keys: str) -> list[Any]:
        """Remove several keys; return them (absent afterwards, so deleted)."""
        self._engine.delete_many([self._key(key) for key in keys])
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
