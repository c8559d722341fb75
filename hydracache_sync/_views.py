"""Views over one cache: namespaced (``audio:``), versioned (``audio@v1:``), typed,
and the structured-key builder (``cache.key("users", 42).get(loader)``).

A view prefixes keys and forwards to the cache, so views share its storage,
stats, single-flight and tags. Tag names are never prefixed: a tag set through
any view is reached by ``invalidate_tag`` on the cache or on any other view.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, overload

from ._keys import KeyPart, join_segments
from ._options import TTL, CacheOptions, Expires, resolve_ttl
from ._placement import Cost
from ._stats import CacheStats
from ._types import UNSET, Unset
from ._units import parse_seconds
from .errors import ConfigError, InvalidKey

if TYPE_CHECKING:
    from ._cache import HydraCache

__all__ = ["CacheView", "KeyBuilder", "Segment", "TypedView", "check_name"]

T = TypeVar("T")
_INF = float("inf")
_NAME = re.compile(r"^[^:*@\s\x00-\x1f\x7f-\x9f]+$")
_NO_OPTIONS = CacheOptions()

#: What ``key()`` accepts as a segment.
Segment: TypeAlias = "str | int | KeyPart"
#: A callable raising ``TypeError`` for a value a typed view does not hold.
Checker: TypeAlias = "Callable[[object], None]"


def check_name(name: object, what: str) -> str:
    """Validate a namespace or version name.

    Raises:
        ConfigError: ``name`` is not a non-empty ``str`` free of ``:``, ``*``,
            ``@``, whitespace and control characters.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{what} {name!r} must be a non-empty str without ':', '*', '@', "
            "whitespace or control characters"
        )
    return name


def namespace_prefix(name: object) -> str:
    """Return the key prefix of a namespace: ``"a:b"`` nests ``a`` then ``b``.

    Raises:
        ConfigError: ``name`` is not a ``str``, or one of its ``:``-separated
            parts is empty or holds ``*``, ``@``, whitespace or control
            characters.
    """
    if not isinstance(name, str):
        raise ConfigError(f"namespace {name!r} must be a str")
    parts = name.split(":")
    for part in parts:
        if not _NAME.match(part):
            raise ConfigError(
                f"namespace {name!r}: each ':'-separated part must be a non-empty "
                "str without '*', '@', whitespace or control characters"
            )
    return name + ":"


def _flat(prefix: str, key: object) -> str:
    if not isinstance(key, str):
        raise InvalidKey(f"cache keys are str, not {type(key).__name__}: {key!r}")
    if not key:
        raise InvalidKey("the empty string is not a cache key")
    return prefix + key


def _wildcard_misuse(key: str, operation: str) -> InvalidKey:
    return InvalidKey(
        f"key {key!r} holds the wildcard segment '*', which only invalidate() "
        f"accepts, not {operation}(); hash literal text with KeyPart.hash()"
    )


# Building a key from segments (validation, join) is most of the cost of
# ``cache.key("users", 1).get(loader)`` on a hit, and the same few shapes
# repeat, so validated segment tuples are remembered, at two levels:
#
# - ``_TEXTS`` (module-wide): segments -> (key text, int positions). Used when
#   a view is new (``cache.namespace("a").key(...)`` builds a view per call).
# - ``CacheView._memo`` (per view): segments -> (builder, int positions).
#   Builders are immutable, so one can be handed out again; this skips even
#   the builder's allocation.
#
# Only tuples of exact str/int/KeyPart are remembered (plain values: nothing
# else is kept alive). A tuple lookup matches by ==, and ``True == 1 == 1.0``,
# so the int positions are re-checked on every hit: a bool or a float segment
# never passes. Positions are encoded as one int: -1 none, i >= 0 the single
# int segment, -2 several (checked with one set test).
_Memo: TypeAlias = "dict[tuple[object, ...], tuple[KeyBuilder[Any], int]]"
_TEXTS: dict[tuple[object, ...], tuple[str, int]] = {}
_MEMO_CAP = 2048  # per map; a full map is cleared (cheap, and rare)
_MEMO_TEXT = 200  # longer keys are built each time rather than remembered
_EXACT = frozenset({str, int, KeyPart})
_NO_INT = -1  # the hit path in CacheView.key spells these as literals
_SEVERAL = -2


def _int_positions(segments: tuple[object, ...]) -> int:
    positions = [i for i, s in enumerate(segments) if type(s) is int]
    if not positions:
        return _NO_INT
    return positions[0] if len(positions) == 1 else _SEVERAL


def _text_of(segments: tuple[object, ...]) -> tuple[str, int | None]:
    """Return (validated key text, int positions or None when not memoizable)."""
    hit = _TEXTS.get(segments)
    if hit is not None:
        text, pos = hit
        if (
            pos == _NO_INT
            or (pos >= 0 and type(segments[pos]) is int)
            or (pos == _SEVERAL and _EXACT.issuperset(map(type, segments)))
        ):
            return text, pos
    text = join_segments("", segments)
    if (
        "*" in text
        or len(text) > _MEMO_TEXT
        or not _EXACT.issuperset(map(type, segments))
    ):
        return text, None
    pos = _int_positions(segments)
    if len(_TEXTS) >= _MEMO_CAP:
        _TEXTS.clear()
    _TEXTS[segments] = (text, pos)
    return text, pos


def _build(
    cache: HydraCache,
    prefix: str,
    segments: tuple[object, ...],
    memo: _Memo | None,
    check: Checker | None = None,
) -> KeyBuilder[Any]:
    """Validate ``segments`` and return their builder (the memo-miss path)."""
    text, pos = _text_of(segments)
    key = prefix + text
    if check is not None or "*" in text:
        return _Configured(cache, key, None, check)
    builder: KeyBuilder[Any] = KeyBuilder()
    builder._cache = cache
    builder._key = key
    if memo is not None and pos is not None:
        if len(memo) >= _MEMO_CAP:
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

    # A plain builder (no options, no type check, no wildcard) has two slots
    # and the fastest operations; anything else is a ``_Configured`` builder.
    __slots__ = ("_cache", "_key")

    _cache: HydraCache
    _key: str
    _options: CacheOptions | None = None
    _check: Checker | None = None

    # -- options (each returns a new builder) ----------------------------------

    def _with(self, options: CacheOptions) -> KeyBuilder[T]:
        return _Configured(self._cache, self._key, options, self._check)

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
        cache = self._cache
        if loader is None:
            return cache.get(self._key, default)  # type: ignore[no-any-return]
        # HydraCache.get_or_load's local hit, inlined: one call frame less is
        # what keeps key(...).get(loader) within 2x of a flat get (measured
        # 2.04x through get_or_load, benchmarks/bench_keys.py).
        entry = cache._entries_get(self._key)
        if entry is not None and (
            entry.expires_at == _INF or entry.expires_at > cache._now()
        ):
            entry.visited = True
            cache._hit()
            return entry.value  # type: ignore[no-any-return]
        return cache.get_or_load(self._key, loader)

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
        cache: HydraCache,
        key: str,
        options: CacheOptions | None,
        check: Checker | None,
    ) -> None:
        self._cache = cache
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
            raise _wildcard_misuse(key, "get")
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
            raise _wildcard_misuse(key, "set")
        if self._check is not None:
            self._check(value)
        self._cache.set(key, value, options=self._options)

    put = set

    def contains(self) -> bool:
        """Tell whether a usable value is present."""
        if "*" in self._key:
            raise _wildcard_misuse(self._key, "contains")
        return self._cache.contains(self._key)

    def delete(self) -> bool:
        """Remove this key from every tier; tell whether it was present."""
        if "*" in self._key:
            raise _wildcard_misuse(self._key, "delete")
        return self._cache.delete(self._key)

    remove = delete


class CacheView:
    """The cache API under a key prefix (``prefix`` ends with ``:`` or is empty).

    Build views with ``cache.namespace(name)``, ``view.namespace(name)``,
    ``view.version(v)`` and ``view.typed(cls, name)``. A view is a valid
    ``cache=`` target for ``@hydra_cache``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_cache", "_memo", "_prefix")

    def __init__(self, cache: HydraCache, prefix: str) -> None:
        self._cache = cache
        self._prefix = prefix
        self._memo: _Memo = {}

    @property
    def prefix(self) -> str:
        """The text put before every key of this view."""
        return self._prefix

    @property
    def cache(self) -> HydraCache:
        """The underlying cache."""
        return self._cache

    def _target(self) -> tuple[HydraCache, str, Checker | None]:
        """Return (cache, prefix, value checker) for callers that bypass the view."""
        return self._cache, self._prefix, None

    # -- views -------------------------------------------------------------------

    def namespace(self, name: str) -> CacheView:
        """Return a nested view prefixed ``name:`` inside this one.

        ``"a:b"`` is the namespace ``b`` inside ``a``: ``namespace("a:b")``
        equals ``namespace("a").namespace("b")``.

        Raises:
            ConfigError: A ``:``-separated part of ``name`` is empty or
                contains ``*``, ``@``, whitespace or control characters.
        """
        return CacheView(self._cache, self._prefix + namespace_prefix(name))

    def version(self, version: str) -> CacheView:
        """Return this namespace at a version: ``audio:`` becomes ``audio@v1:``.

        Bumping the version is a cheap way to orphan a namespace's old entries
        (they expire or are evicted); ``clear()`` on the old view removes them.

        Raises:
            ConfigError: This is the root view or already a version, or the
                version is not a valid name.
        """
        if not self._prefix:
            raise ConfigError("version() applies to a namespace view")
        last = self._prefix[:-1].rsplit(":", 1)[-1]
        if "@" in last:
            raise ConfigError(f"view {self._prefix!r} is already versioned")
        check_name(version, "version")
        return CacheView(self._cache, f"{self._prefix[:-1]}@{version}:")

    def typed(self, cls: type[T], namespace: str) -> TypedView[T]:
        """Return a typed view under ``namespace`` inside this one."""
        return TypedView(self.namespace(namespace), cls)

    def key(self, *segments: Segment) -> KeyBuilder[Any]:
        """Return a structured key under this view: ``view.key("users", 42)``.

        Raises:
            InvalidKey: No segment, or a segment is not allowed (see
                ``KeyPart``).
        """
        # The hit path: one dict lookup and the int re-check (see _TEXTS).
        # Literals, not the _NO_INT/_SEVERAL names: a global load per test costs.
        hit = self._memo.get(segments)
        if hit is not None:
            builder, pos = hit
            if pos >= 0:  # one int segment, the usual case ("users", 42)
                if type(segments[pos]) is int:
                    return builder
            elif pos == -1 or _EXACT.issuperset(map(type, segments)):
                return builder
        return _build(self._cache, self._prefix, segments, self._memo)

    # -- flat keys ---------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value or ``default``."""
        return self._cache.get(_flat(self._prefix, key), default)

    def set(
        self,
        key: str,
        value: Any,
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
        compress: bool | Unset = UNSET,
    ) -> None:
        """Store a value (same keywords as ``HydraCache.set``)."""
        self._cache.set(
            _flat(self._prefix, key),
            value,
            options=options,
            ttl=ttl,
            tags=tags,
            cost=cost,
            negative_ttl=negative_ttl,
            compress=compress,
        )

    put = set

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], T],
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
        compress: bool | Unset = UNSET,
    ) -> T:
        """Return the value, loading it once on a miss (``HydraCache.get_or_load``)."""
        return self._cache.get_or_load(
            _flat(self._prefix, key),
            loader,
            options=options,
            ttl=ttl,
            tags=tags,
            cost=cost,
            negative_ttl=negative_ttl,
            compress=compress,
        )

    get_or_set = get_or_load
    get_or_insert_with = get_or_load
    try_get_or_insert_with = get_or_load

    def contains(self, key: str) -> bool:
        """Tell whether a usable value is present."""
        return self._cache.contains(_flat(self._prefix, key))

    __contains__ = contains
    contains_key = contains

    def delete(self, key: str) -> bool:
        """Remove one key from every tier."""
        return self._cache.delete(_flat(self._prefix, key))

    remove = delete
    invalidate_key = delete

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Return the found keys (as given, without this view's prefix)."""
        size = len(self._prefix)
        found = self._cache.get_many([_flat(self._prefix, k) for k in keys])
        return {k[size:]: v for k, v in found.items()}

    def set_many(
        self,
        mapping: Mapping[str, Any],
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
        compress: bool | Unset = UNSET,
    ) -> None:
        """Store several values; a bad one stores none."""
        self._cache.set_many(
            {_flat(self._prefix, k): v for k, v in mapping.items()},
            options=options,
            ttl=ttl,
            tags=tags,
            cost=cost,
            negative_ttl=negative_ttl,
            compress=compress,
        )

    # -- read-modify-write verbs (HydraCache.add etc., keys prefixed) ------------

    def add(self, key: str, value: Any, **options: Any) -> bool:
        """Store only if absent (``HydraCache.add``)."""
        return self._cache.add(_flat(self._prefix, key), value, **options)

    def incr(self, key: str, delta: int = 1, **options: Any) -> int:
        """Add to a counter atomically (``HydraCache.incr``)."""
        return self._cache.incr(_flat(self._prefix, key), delta, **options)

    def decr(self, key: str, delta: int = 1, **options: Any) -> int:
        """Subtract from a counter atomically (``HydraCache.decr``)."""
        return self._cache.decr(_flat(self._prefix, key), delta, **options)

    def touch(self, key: str, ttl: TTL, **options: Any) -> bool:
        """Give a key a new TTL (``HydraCache.touch``)."""
        return self._cache.touch(_flat(self._prefix, key), ttl, **options)

    def ttl(self, key: str, **options: Any) -> float | None:
        """Seconds left (``HydraCache.ttl``)."""
        return self._cache.ttl(_flat(self._prefix, key), **options)

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys (``HydraCache.delete_many``)."""
        return self._cache.delete_many([_flat(self._prefix, k) for k in keys])

    # -- invalidation ------------------------------------------------------------

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag`` (tags are cache-wide, not prefixed)."""
        return self._cache.invalidate_tag(tag)

    def invalidate(self, pattern: str) -> int:
        """Remove this view's keys matching ``pattern`` (``*`` is the wildcard)."""
        return self._cache.invalidate(_flat(self._prefix, pattern))

    def clear(self) -> int:
        """Remove every key under this view's prefix (all keys for the root).

        Nested namespaces are under the prefix and go too; other versions of
        the namespace (``audio@v2:`` for ``audio@v1:``) and the unversioned
        namespace do not.
        """
        if not self._prefix:
            return self._cache.clear()
        return self._cache.invalidate(self._prefix + "*")

    flush = clear

    def stats(self) -> CacheStats:
        """The cache's stats (shared by every view)."""
        return self._cache.stats()

    def __eq__(self, other: object) -> bool:
        if type(other) is not CacheView:
            return NotImplemented
        return other._cache is self._cache and other._prefix == self._prefix

    def __hash__(self) -> int:
        return hash((id(self._cache), self._prefix))

    def __repr__(self) -> str:
        return f"<CacheView {self._prefix!r} of {self._cache!r}>"


class TypedView(Generic[T]):
    """A namespaced view whose values are ``T``; ``set`` rejects anything else.

    Loader results are checked too (``None`` passes: it is a cached negative).
    A dataclass ``T`` is registered with the cache's codec, so values read
    back from a remote tier are ``T`` again, not dicts.

    .. versionadded:: 0.1
    """

    __slots__ = ("_cls", "_dataclass", "_view")

    def __init__(self, view: CacheView, cls: type[T]) -> None:
        if not isinstance(cls, type):
            raise ConfigError(f"typed() needs a class, not {cls!r}")
        if not isinstance(view, CacheView):
            raise ConfigError(f"TypedView wraps a CacheView, not {view!r}")
        self._view = view
        self._cls = cls
        self._dataclass = dataclasses.is_dataclass(cls)
        if self._dataclass:
            view.cache.codec.register(cls)

    def _restore(self, value: Any) -> Any:
        """Turn a dict back into the dataclass ``T``.

        Bytes decoded before ``T`` was registered (say, an untyped read of the
        same key earlier in this process) left a plain dict in the local tier.
        """
        if self._dataclass and type(value) is dict:
            try:
                return self._cls(**value)
            except TypeError:
                return value
        return value

    @property
    def value_type(self) -> type[T]:
        """The type of this view's values."""
        return self._cls

    @property
    def prefix(self) -> str:
        """The text put before every key of this view."""
        return self._view.prefix

    @property
    def cache(self) -> HydraCache:
        """The underlying cache."""
        return self._view.cache

    @property
    def view(self) -> CacheView:
        """The untyped view under the same prefix."""
        return self._view

    def _check(self, value: object) -> None:
        if not isinstance(value, self._cls):
            raise TypeError(
                f"this view holds {self._cls.__qualname__} values, "
                f"not {type(value).__qualname__}"
            )

    def _checked(self, loader: Callable[[], T]) -> Callable[[], T]:
        check = self._check

        def checked() -> T:
            value = loader()
            if value is not None:
                check(value)
            return value

        return checked

    def _target(self) -> tuple[HydraCache, str, Checker | None]:
        """Return (cache, prefix, value checker) for callers that bypass the view."""
        return self._view.cache, self._view.prefix, self._check

    # -- views -------------------------------------------------------------------

    def namespace(self, name: str) -> TypedView[T]:
        """Return a nested typed view prefixed ``name:`` inside this one."""
        return TypedView(self._view.namespace(name), self._cls)

    def version(self, version: str) -> TypedView[T]:
        """Return this typed view at a version (``users@v2:``)."""
        return TypedView(self._view.version(version), self._cls)

    def typed(self, cls: type[T], namespace: str) -> TypedView[T]:
        """Return a typed view of ``cls`` under ``namespace`` inside this one."""
        return TypedView(self._view.namespace(namespace), cls)

    def key(self, *segments: Segment) -> KeyBuilder[T]:
        """Return a structured key under this view; its ``set``/loader check ``T``."""
        return _build(self._view.cache, self._view.prefix, segments, None, self._check)

    # -- flat keys ---------------------------------------------------------------

    def get(self, key: str, default: T | None = None) -> T | None:
        """Return the value or ``default``."""
        return self._restore(self._view.get(key, default))  # type: ignore[no-any-return]

    def set(
        self,
        key: str,
        value: T,
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
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
            negative_ttl=negative_ttl,
            compress=compress,
        )

    put = set

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], T],
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
        compress: bool | Unset = UNSET,
    ) -> T:
        """Return the value, loading it once on a miss (the result must be a ``T``).

        Raises:
            TypeError: The loader returned something else; nothing is stored.
        """
        value = self._view.get_or_load(
            key,
            self._checked(loader),
            options=options,
            ttl=ttl,
            tags=tags,
            cost=cost,
            negative_ttl=negative_ttl,
            compress=compress,
        )
        return self._restore(value)  # type: ignore[no-any-return]

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
        found = self._view.get_many(keys)
        return {key: self._restore(value) for key, value in found.items()}

    def set_many(
        self,
        mapping: Mapping[str, T],
        *,
        options: CacheOptions | None = None,
        ttl: TTL | Unset = UNSET,
        tags: Iterable[str] | Unset = UNSET,
        cost: Cost | Unset = UNSET,
        negative_ttl: float | Unset | None = UNSET,
        compress: bool | Unset = UNSET,
    ) -> None:
        """Store several ``T`` values; one wrong value stores none."""
        for value in mapping.values():
            self._check(value)
        self._view.set_many(
            mapping,
            options=options,
            ttl=ttl,
            tags=tags,
            cost=cost,
            negative_ttl=negative_ttl,
            compress=compress,
        )

    # -- invalidation ------------------------------------------------------------

    def add(self, key: str, value: T, **options: Any) -> bool:
        """Store a ``T`` only if absent (``HydraCache.add``)."""
        self._check(value)
        return self._view.add(key, value, **options)

    def incr(self, key: str, delta: int = 1, **options: Any) -> int:
        """Add to a counter atomically (``HydraCache.incr``)."""
        return self._view.incr(key, delta, **options)

    def decr(self, key: str, delta: int = 1, **options: Any) -> int:
        """Subtract from a counter atomically (``HydraCache.decr``)."""
        return self._view.decr(key, delta, **options)

    def touch(self, key: str, ttl: TTL, **options: Any) -> bool:
        """Give a key a new TTL (``HydraCache.touch``)."""
        return self._view.touch(key, ttl, **options)

    def ttl(self, key: str, **options: Any) -> float | None:
        """Seconds left (``HydraCache.ttl``)."""
        return self._view.ttl(key, **options)

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove several keys (``HydraCache.delete_many``)."""
        return self._view.delete_many(keys)

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry carrying ``tag`` (cache-wide)."""
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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypedView):
            return NotImplemented
        return other._view == self._view and other._cls is self._cls

    def __hash__(self) -> int:
        return hash((self._view, self._cls))

    def __repr__(self) -> str:
        return f"<TypedView[{self._cls.__qualname__}] {self.prefix!r}>"
