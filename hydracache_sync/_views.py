"""Views over one cache: namespaced (``audio:``), versioned (``audio@v1:``) and typed.

A view prefixes keys and forwards to the cache, so views share its storage,
stats, single-flight and tags. Tag names are never prefixed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._options import TTL, CacheOptions
from ._placement import Cost
from ._stats import CacheStats
from ._types import UNSET, Unset
from .errors import ConfigError, InvalidKey

if TYPE_CHECKING:
    from ._cache import HydraCache

__all__ = ["CacheView", "TypedView", "check_name"]

T = TypeVar("T")
_NAME = re.compile(r"^[^:*@\s\x00-\x1f\x7f]+$")


def check_name(name: object, what: str) -> str:
    """Validate a namespace or version name."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{what} {name!r} must be a non-empty str without ':', '*', '@', "
            "whitespace or control characters"
        )
    return name


class CacheView:
    """The cache API under a key prefix (``prefix`` ends with ``:`` or is empty)."""

    def __init__(self, cache: HydraCache, prefix: str) -> None:
        self._cache = cache
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        """The text put before every key of this view."""
        return self._prefix

    @property
    def cache(self) -> HydraCache:
        """The underlying cache."""
        return self._cache

    def _key(self, key: object) -> str:
        if not isinstance(key, str):
            raise InvalidKey(f"cache keys are str, not {type(key).__name__}: {key!r}")
        return self._prefix + key

    def namespace(self, name: str) -> CacheView:
        """Return a nested view prefixed ``name:`` inside this one."""
        return CacheView(self._cache, f"{self._prefix}{check_name(name, 'namespace')}:")

    def version(self, version: str) -> CacheView:
        """Return this namespace at a version: ``audio:`` becomes ``audio@v1:``."""
        if not self._prefix:
            raise ConfigError("version() applies to a namespace view")
        check_name(version, "version")
        return CacheView(self._cache, f"{self._prefix[:-1]}@{version}:")

    def typed(self, cls: type[T], namespace: str) -> TypedView[T]:
        """Return a typed view under ``namespace`` inside this one."""
        return TypedView(self.namespace(namespace), cls)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value or ``default``."""
        return self._cache.get(self._key(key), default)

    def set(self, key: str, value: Any, **options: Any) -> None:
        """Store a value (same keywords as ``HydraCache.set``)."""
        self._cache.set(self._key(key), value, **options)

    put = set

    def get_or_load(self, key: str, loader: Callable[[], T], **options: Any) -> T:
        """Return the value, loading it once on a miss."""
        return self._cache.get_or_load(self._key(key), loader, **options)

    get_or_set = get_or_load
    get_or_insert_with = get_or_load
    try_get_or_insert_with = get_or_load

    def contains(self, key: str) -> bool:
        """Tell whether a usable value is present."""
        return self._cache.contains(self._key(key))

    __contains__ = contains
    contains_key = contains

    def delete(self, key: str) -> bool:
        """Remove one key from every tier."""
        return self._cache.delete(self._key(key))

    remove = delete
    invalidate_key = delete

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Return the found keys (without this view's prefix)."""
        size = len(self._prefix)
        found = self._cache.get_many([self._key(k) for k in keys])
        return {k[size:]: v for k, v in found.items()}

    def set_many(self, mapping: Mapping[str, Any], **options: Any) -> None:
        """Store several values."""
        self._cache.set_many({self._key(k): v for k, v in mapping.items()}, **options)

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag`` (tags are cache-wide)."""
        return self._cache.invalidate_tag(tag)

    def invalidate(self, pattern: str) -> int:
        """Remove keys of this view matching ``pattern``."""
        return self._cache.invalidate(self._key(pattern))

    def clear(self) -> int:
        """Remove every key under this view's prefix (all keys for the root)."""
        if not self._prefix:
            return self._cache.clear()
        return self._cache.invalidate(self._prefix + "*")

    flush = clear

    def stats(self) -> CacheStats:
        """The cache's stats (shared by every view)."""
        return self._cache.stats()

    def __repr__(self) -> str:
        return f"<CacheView {self._prefix!r} of {self._cache!r}>"


class TypedView(Generic[T]):
    """A namespaced view whose values are ``T``; ``set`` rejects anything else."""

    def __init__(self, view: CacheView, cls: type[T]) -> None:
        if not isinstance(cls, type):
            raise ConfigError(f"typed() needs a class, not {cls!r}")
        self._view = view
        self._cls = cls
        if dataclasses.is_dataclass(cls):
            view.cache.codec.register(cls)

    @property
    def value_type(self) -> type[T]:
        """The type of this view's values."""
        return self._cls

    @property
    def prefix(self) -> str:
        """The text put before every key of this view."""
        return self._view.prefix

    def _check(self, value: object) -> None:
        if not isinstance(value, self._cls):
            raise TypeError(
                f"this view holds {self._cls.__qualname__} values, "
                f"not {type(value).__qualname__}"
            )

    def get(self, key: str, default: T | None = None) -> T | None:
        """Return the value or ``default``."""
        return self._view.get(key, default)  # type: ignore[no-any-return]

    def set(
        self,
        key: str,
        value: T,
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        compress: bool | Unset = UNSET,
    ) -> None:
        """Store a ``T``.

        Raises:
            TypeError: ``value`` is not a ``T``; nothing is stored.
        """
        self._check(value)
        self._view.set(
            key,
            value,
            options=options,
            ttl=ttl,
            tags=tags,
            cost=cost,
            compress=compress,
        )

    put = set

    def get_or_load(self, key: str, loader: Callable[[], T], **options: Any) -> T:
        """Return the value, loading it once on a miss (the result must be a ``T``)."""

        def checked() -> T:
            value = loader()
            if value is not None:
                self._check(value)
            return value

        return self._view.get_or_load(key, checked, **options)

    get_or_set = get_or_load
    get_or_insert_with = get_or_load
    try_get_or_insert_with = get_or_load

    def contains(self, key: str) -> bool:
        """Tell whether a usable value is present."""
        return self._view.contains(key)

    __contains__ = contains
    contains_key = contains

    def delete(self, key: str) -> bool:
        """Remove one key from every tier."""
        return self._view.delete(key)

    remove = delete
    invalidate_key = delete

    def get_many(self, keys: Iterable[str]) -> dict[str, T]:
        """Return the found keys."""
        return self._view.get_many(keys)

    def set_many(self, mapping: Mapping[str, T], **options: Any) -> None:
        """Store several ``T`` values; one wrong value stores none."""
        for value in mapping.values():
            self._check(value)
        self._view.set_many(mapping, **options)

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag``."""
        return self._view.invalidate_tag(tag)

    def invalidate(self, pattern: str) -> int:
        """Remove keys of this view matching ``pattern``."""
        return self._view.invalidate(pattern)

    def clear(self) -> int:
        """Remove every key of this view."""
        return self._view.clear()

    flush = clear

    def stats(self) -> CacheStats:
        """The cache's stats."""
        return self._view.stats()
