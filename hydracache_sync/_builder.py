"""Structured keys' builder: one key and its options, with the operations on it.

``cache.key("users", 42)`` (or a view's ``key``) returns a :class:`KeyBuilder`;
its key text comes from ``_keys.segments_text`` and its operations call the
engine's public methods (a hit goes through the engine's ``local_hit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Generic, TypeAlias, TypeVar, overload

from ._engine import Engine
from ._keys import MEMO_CAP, segments_text, wildcard_misuse
from ._options import CacheOptions, Expires, resolve_ttl
from ._placement import Cost
from ._types import MISSING
from ._units import parse_seconds
from .errors import ConfigError

__all__ = ["Checker", "KeyBuilder", "Memo", "build"]

T = TypeVar("T")
_NO_OPTIONS = CacheOptions()

#: A callable raising ``TypeError`` for a value a typed view does not hold.
Checker: TypeAlias = "Callable[[object], None]"
#: A view's remembered builders: segments -> (builder, int positions).
Memo: TypeAlias = "dict[tuple[object, ...], tuple[KeyBuilder[Any], int]]"


def build(
    cache: Engine,
    hit: Callable[[str], Any],
    prefix: str,
    segments: tuple[object, ...],
    memo: Memo | None,
    check: Checker | None = None,
) -> KeyBuilder[Any]:
    """Validate ``segments`` and return their builder (the memo-miss path).

    Raises:
        InvalidKey: No segments, or a segment is not allowed.
    """
    text, pos = segments_text(segments)
    key = prefix + text
    if check is not None or "*" in text:
        return _Configured(cache, hit, key, None, check)
    builder: KeyBuilder[Any] = KeyBuilder()
    builder._cache = cache
    builder._hit = hit
    builder._key = key
    if memo is not None and pos is not None:
        if len(memo) >= MEMO_CAP:
            memo.clear()
        memo[segments] = (builder, pos)
    return builder


class KeyBuilder(Generic[T]):
    """One structured key and its options; immutable and cheap.

    Returned by ``key(*segments)`` on a cache or a view. Option methods
    (``expires``, ``cost_hint``, ``negative_ttl``, ``compressed``, ``tags``)
    return a new builder; the operations (``get``, ``set``, ``delete``,
    ``invalidate``, ``contains``) act on the cache. A builder holds no lock and
    nothing but its cache, key and options, so it can be kept and reused
    across threads.

    .. versionadded:: 0.1
    """

    # A plain builder (no options, no type check, no wildcard) has three slots
    # and the fastest operations; anything else is a ``_Configured`` builder.
    __slots__ = ("_cache", "_hit", "_key")

    _cache: Engine
    _hit: Callable[[str], Any]  # the engine's local_hit, bound once per view
    _key: str
    _options: CacheOptions | None = None
    _check: Checker | None = None

    # -- options (each returns a new builder) ----------------------------------

    def _with(self, options: CacheOptions) -> KeyBuilder[T]:
        return _Configured(self._cache, self._hit, self._key, options, self._check)

    @property
    def options(self) -> CacheOptions:
        """The options this builder passes to the cache."""
        return self._options if self._options is not None else _NO_OPTIONS

    def expires(self, expiry: Expires | float | timedelta) -> KeyBuilder[T]:
        """Return a builder storing with this expiry.

        Args:
            expiry: ``Expires.after(...)``, ``Expires.NEVER``,
                ``Expires.DEFAULT`` (the cache's ``default_ttl``), or seconds /
                a ``timedelta``.

        Raises:
            ConfigError: ``expiry`` is not a usable duration.
        """
        if not isinstance(expiry, Expires):
            resolve_ttl(expiry, None)  # validate now, not at the first store
        return self._with(self.options.with_ttl(expiry))

    def cost_hint(self, cost: Cost) -> KeyBuilder[T]:
        """Return a builder storing with this cost class (decides the base tier).

        Raises:
            ConfigError: ``cost`` is not a ``Cost``.
        """
        if not isinstance(cost, Cost):
            raise ConfigError(f"cost_hint() takes a Cost, not {cost!r}")
        return self._with(self.options.with_cost(cost))

    def negative_ttl(self, seconds: float | timedelta) -> KeyBuilder[T]:
        """Return a builder caching a ``None`` result for ``seconds``.

        Raises:
            ConfigError: ``seconds`` is not a duration.
        """
        parse_seconds(seconds, name="negative_ttl")
        return self._with(self.options.with_negative_ttl(seconds))

    def compressed(self, compress: bool = True) -> KeyBuilder[T]:
        """Return a builder asking for gzip on remote payloads over 1 KB."""
        return self._with(self.options.with_compress(bool(compress)))

    def tags(self, *tags: str | Iterable[str]) -> KeyBuilder[T]:
        """Return a builder storing with these tags added (``tags("a", "b")``).

        Raises:
            ConfigError: A tag is not a non-empty ``str``.
        """
        names: list[str] = []
        for tag in tags:
            if isinstance(tag, str):
                names.append(tag)
            else:
                names.extend(tag)
        return self._with(self.options.tags(names))

    # -- the key ---------------------------------------------------------------

    @property
    def full_key(self) -> str:
        """The flat key, with the view's prefix (``"audio@v1:users:42"``)."""
        return self._key

    @property
    def is_pattern(self) -> bool:
        """Whether the key holds the wildcard segment ``*``."""
        return "*" in self._key

    # -- operations ------------------------------------------------------------

    @overload
    def get(self, loader: None = None, default: T | None = None) -> T | None: ...

    @overload
    def get(self, loader: Callable[[], T], default: T | None = None) -> T: ...

    def get(
        self, loader: Callable[[], T] | None = None, default: T | None = None
    ) -> T | None:
        """Return the value; with a ``loader``, load it once on a miss and store it.

        Args:
            loader: Called (once across threads) when the key is missing; its
                result is stored with this builder's options. Without one this
                is a plain ``get``.
            default: Returned by a plain ``get`` on a miss (positional or
                keyword: keyword-only parameters cost more per call).

        Raises:
            InvalidKey: The key holds the wildcard ``*``.
            TypeError: A typed view's loader returned a value of another type.
        """
        if loader is None:
            return self._cache.get(self._key, default)  # type: ignore[no-any-return]
        # The engine's local hit, called directly: one frame less than
        # get_or_load's is what keeps key(...).get(loader) close to a flat get
        # (benchmarks/bench_keys.py).
        value = self._hit(self._key)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        return self._cache.get_or_load(self._key, loader)

    def set(self, value: T) -> None:
        """Store ``value`` with this builder's options.

        Raises:
            InvalidKey: The key holds the wildcard ``*``.
            TypeError: A typed view's value of another type; nothing is stored.
            CodecError: ``value`` cannot be encoded; nothing is stored.
        """
        self._cache.set(self._key, value)

    put = set

    def contains(self) -> bool:
        """Tell whether a usable value is present.

        Raises:
            InvalidKey: The key holds the wildcard ``*``.
        """
        return self._cache.contains(self._key)

    def delete(self) -> bool:
        """Remove this key from every tier; tell whether it was present.

        Raises:
            InvalidKey: The key holds the wildcard ``*`` (use ``invalidate``).
        """
        return self._cache.delete(self._key)

    remove = delete

    def invalidate(self) -> int:
        """Remove this key, or every key the wildcard ``*`` segments match.

        ``*`` matches any run of characters, ``:`` included, so
        ``key("users", 1, "*")`` removes ``users:1:posts:7`` too, but not
        ``users:1`` itself nor ``users:10:x``.

        Returns:
            How many were removed (from the tier that held the most).
        """
        if "*" in self._key:
            return self._cache.invalidate(self._key)
        return int(self._cache.delete(self._key))

    def __str__(self) -> str:
        return self._key

    def __repr__(self) -> str:
        return f"<KeyBuilder {self._key!r} {self.options!r}>"


class _Configured(KeyBuilder[T]):
    """A builder with options, a type check or a wildcard: checked operations."""

    __slots__ = ("_check", "_options")

    def __init__(
        self,
        cache: Engine,
        hit: Callable[[str], Any],
        key: str,
        options: CacheOptions | None,
        check: Checker | None,
    ) -> None:
        self._cache = cache
        self._hit = hit
        self._key = key
        self._options = options
        self._check = check

    @overload
    def get(self, loader: None = None, default: T | None = None) -> T | None: ...

    @overload
    def get(self, loader: Callable[[], T], default: T | None = None) -> T: ...

    def get(
        self, loader: Callable[[], T] | None = None, default: T | None = None
    ) -> T | None:
        """Return the value; with a ``loader``, load it once on a miss and store it."""
        key = self._key
        if "*" in key:
            raise wildcard_misuse(key, "get")
        if loader is None:
            return self._cache.get(key, default)  # type: ignore[no-any-return]
        check = self._check
        if check is None:
            return self._cache.get_or_load(key, loader, options=self._options)

        def checked() -> T:
            value = loader()
            if value is not None:
                check(value)
            return value

        return self._cache.get_or_load(key, checked, options=self._options)

    def set(self, value: T) -> None:
        """Store ``value`` with this builder's options."""
        key = self._key
        if "*" in key:
            raise wildcard_misuse(key, "set")
        if self._check is not None:
            self._check(value)
        self._cache.set(key, value, options=self._options)

    put = set

    def contains(self) -> bool:
        """Tell whether a usable value is present."""
        if "*" in self._key:
            raise wildcard_misuse(self._key, "contains")
        return self._cache.contains(self._key)

    def delete(self) -> bool:
        """Remove this key from every tier; tell whether it was present."""
        if "*" in self._key:
            raise wildcard_misuse(self._key, "delete")
        return self._cache.delete(self._key)

    remove = delete
