"""Django cache backend: ``CACHES`` over a process-wide HydraCache engine.

::

    CACHES = {
        "default": {
            "BACKEND": "hydracache_sync.django.HydraCacheBackend",
            "LOCATION": "redis://127.0.0.1:6379/0",   # or "" for memory only
            "OPTIONS": {"MAX_BYTES": "64MB", "LOCK": "redis"},
        }
    }

The whole ``BaseCache`` API works (versions, ``KEY_PREFIX``,
``KEY_FUNCTION``, ``incr_version``, ``validate_key`` warnings) and gains the
local tier, cross-process invalidation (Redis pub/sub) and single-flight:
``get_or_set`` with a callable runs it once per process (once across
processes with ``"LOCK": "redis"``). Timeouts follow Django: ``None`` is
forever, ``0`` or less expires at once.

Values: what CBOR holds (str, bytes, numbers, lists, dicts, tuples, sets,
datetimes, ...) is stored as CBOR; anything else (model instances,
``HttpResponse``, ...) is pickled and HMAC-SHA256-signed with a key derived
from ``SECRET_KEY``. A pickle whose signature does not verify under
``SECRET_KEY`` or one of ``SECRET_KEY_FALLBACKS`` is never unpickled: it
reads as a miss and counts in ``decode_errors``.

``OPTIONS`` (all optional):

========================= ====================================================
``MAX_BYTES``             local tier budget (``"64MB"``)
``MAX_ENTRY_SIZE``        largest entry kept locally (1 MB)
``LOCAL_TTL``             bound on local copies of Redis/Postgres entries (60)
``PREFIX``                Redis key prefix (``"hc:"``)
``POSTGRES_DSN``          adds the durable Postgres tier
``POSTGRES_SCHEMA``       its schema (``"public"``)
``POSTGRES_TABLE``        its table (``"hydracache"``)
``SECRET``                signs every remote envelope (>= 16 bytes)
``BROADCAST``             cross-process invalidation over Redis (``True``)
``LOCK``                  ``"redis"``: ``get_or_set`` single-flight across
                          processes
``ON_TIER_ERROR``         ``"degrade"`` (default) or ``"raise"``
``COMPRESS``              gzip remote payloads over 1 KB (``False``)
========================= ====================================================

Caches with the same ``LOCATION`` and engine ``OPTIONS`` share one engine
per process (as ``LocMemCache`` shares by name); ``KEY_PREFIX``, ``VERSION``
and ``TIMEOUT`` stay per alias. ``close()`` (called by Django after every
request) keeps the engine; :func:`close_engines` closes them all.

.. versionadded:: 0.2
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._appconfig import cache_from_settings, postgres_only_plan
from ._cache import HydraCache
from ._frameworks import EngineRegistry, SignedPickleCodec, derive_key, framework_key
from ._options import TTL, Expires
from .errors import MissingDependencyError

try:
    from django.conf import settings
    from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
    from django.core.exceptions import ImproperlyConfigured
except ImportError as exc:  # pragma: no cover - exercised without django only
    raise MissingDependencyError(
        "hydracache_sync.django needs Django: pip install 'hydracache_sync[django]'"
    ) from exc

__all__ = ["HydraCacheBackend", "close_engines", "engine_for"]

_OPTIONS = frozenset(
    {
        "MAX_BYTES",
        "MAX_ENTRY_SIZE",
        "LOCAL_TTL",
        "PREFIX",
        "POSTGRES_DSN",
        "POSTGRES_SCHEMA",
        "POSTGRES_TABLE",
        "SECRET",
        "BROADCAST",
        "LOCK",
        "ON_TIER_ERROR",
        "COMPRESS",
    }
)

_engines = EngineRegistry()


def _engine_options(options: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ImproperlyConfigured(
            f"unknown HydraCacheBackend OPTIONS {sorted(unknown)}; "
            f"known: {sorted(_OPTIONS)}"
        )
    return tuple(sorted((name, repr(value)) for name, value in options.items()))


def _build_engine(location: str, options: Mapping[str, Any]) -> HydraCache:
    get = options.get
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    codec = SignedPickleCodec(derive_key(str(key)) for key in secret_keys if key)
    return cache_from_settings(
        options,
        redis_url=location,
        codec=codec,
        plan=postgres_only_plan(location, get("POSTGRES_DSN")),
    )


def engine_for(location: str, options: Mapping[str, Any]) -> HydraCache:
    """Return the process-wide engine for ``LOCATION`` + ``OPTIONS`` (built once)."""
    key = (location, _engine_options(options))
    return _engines.get(key, lambda: _build_engine(location, options))


def close_engines() -> None:
    """Close every engine this module built (at process exit, or in tests)."""
    _engines.close_all()


class HydraCacheBackend(BaseCache):  # type: ignore[misc]
    """A Django cache backend on HydraCache (see the module docs).

    .. versionadded:: 0.2
    """

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        super().__init__(params)
        self._engine = engine_for(location or "", options)

    @property
    def engine(self) -> HydraCache:
        """The HydraCache this alias uses (shared with same-LOCATION aliases)."""
        return self._engine

    # -- timeouts ------------------------------------------------------------------

    def _ttl(self, timeout: Any) -> TTL:
        """Django's timeout as ours: None -> never, <= 0 -> 0 (store nothing)."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return Expires.NEVER
        seconds = float(timeout)
        return 0 if seconds <= 0 else seconds

    def _key(self, key: Any, version: int | None) -> str:
        return framework_key(str(self.make_and_validate_key(key, version=version)))

    # -- BaseCache ---------------------------------------------------------------------

    def add(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        """Store only if absent; atomic in the base tier."""
        return self._engine.add(self._key(key, version), value, ttl=self._ttl(timeout))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """Return the value, or ``default``."""
        return self._engine.get(self._key(key, version), default)

    def set(
        self,
        key: Any,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        """Store (a timeout of 0 or less removes the key)."""
        self._engine.set(self._key(key, version), value, ttl=self._ttl(timeout))

    def touch(
        self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Give the key a new timeout; tell whether it existed."""
        return self._engine.touch(self._key(key, version), self._ttl(timeout))

    def delete(self, key: Any, version: int | None = None) -> bool:
        """Remove the key from every tier; tell whether it existed."""
        return self._engine.delete(self._key(key, version))

    def get_many(
        self, keys: Iterable[Any], version: int | None = None
    ) -> dict[Any, Any]:
        """Return the found keys (one round trip per tier)."""
        by_key = {self._key(key, version): key for key in keys}
        found = self._engine.get_many(list(by_key))
        return {by_key[full]: value for full, value in found.items()}

    def get_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> Any:
        """Return the value, or store ``default`` (a callable runs once per miss)."""
        if not callable(default):
            return super().get_or_set(key, default, timeout=timeout, version=version)
        loader: Callable[[], Any] = default
        return self._engine.get_or_load(
            self._key(key, version), loader, ttl=self._ttl(timeout)
        )

    def has_key(self, key: Any, version: int | None = None) -> bool:
        """Tell whether a value (``None`` included) is cached."""
        return self._engine.contains(self._key(key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        """Add ``delta`` atomically; a missing key raises ``ValueError``."""
        full = self._key(key, version)
        try:
            return self._engine.incr(full, delta)
        except KeyError:
            raise ValueError(f"Key '{key}' not found") from None

    def set_many(
        self,
        data: Mapping[Any, Any],
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        """Store several values; return the keys that failed (always none)."""
        mapping = {self._key(key, version): value for key, value in data.items()}
        ttl = self._ttl(timeout)
        if ttl == 0:
            self._engine.delete_many(list(mapping))
        elif mapping:
            self._engine.set_many(mapping, ttl=ttl)
        return []

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        """Remove several keys."""
        self._engine.delete_many([self._key(key, version) for key in keys])

    def clear(self) -> None:
        """Remove everything the engine owns (every alias sharing it)."""
        self._engine.clear()

    def close(self, **kwargs: Any) -> None:
        """Nothing: the engine and its pools outlive requests."""
