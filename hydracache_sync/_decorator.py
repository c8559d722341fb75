"""``@hydra_cache``: memoize a function in a HydraCache, keyed stably by its arguments.

Keys are ``<module>.<qualname>:<digest>`` (under the target's prefix), where
the digest is a BLAKE2b hash of a canonical encoding of the *bound* arguments
(``inspect.signature``: positional and keyword spellings of one call, and
defaults, give one key). The encoding is the ``_keys`` package's own
(:class:`~hydracache_sync._keys.ArgumentKeys`, specialised once per function:
no ``Signature.bind`` for calls the signature maps directly), so the key is
the same in every process and Python version (``hash()`` is salted;
``repr()`` may hold addresses): two processes sharing a Redis tier share
entries.

The hit path does not bind, encode or hash: the key computed for a hashable
argument tuple is remembered in a two-generation map
(:class:`~hydracache_sync._keys.KeyMemo`, one generation as large as the
local tier can hold entries: never cleared wholesale when full, read without
a lock), then the local tier's
entry is looked at and, when fresh, served by the cache's lock-free ``get``;
anything else goes through ``get_or_load`` only (single-flight: one loader run
per key across threads; remote tiers read once; a miss counted once).

Only plain values (numbers, strings, bytes, None, enums, classes, dates, UUIDs
and tuples/frozensets of them) are kept in that map, so the decorator never
keeps an instance (or any other argument) alive.

Methods, class methods and static methods
-----------------------------------------
``@hydra_cache`` works on plain methods (the wrapper is a descriptor: bound
calls, ``obj.method.invalidate(x)`` and ``obj.method.cache_key(x)`` pass the
instance themselves). The instance enters the key through its
``__cache_key__()`` when its class defines one, is left out with
``ignore_self=True``, and is otherwise encoded like any other argument (a
dataclass, for instance); an object that cannot be encoded raises
``TypeError`` naming ``key=``. ``id()`` is never used: it is reused after
garbage collection.

For class and static methods either order works::

    @classmethod            # recommended: the usual order, as with lru_cache
    @hydra_cache(ttl=60)
    def load(cls, name): ...

    @hydra_cache(ttl=60)    # also fine: the decorator unwraps the descriptor
    @classmethod
    def load(cls, name): ...

The class enters the key by its qualified name. On Python >= 3.13 (which no
longer chains ``classmethod`` over other descriptors) the first order's
``Cls.load.invalidate`` needs the class passed explicitly; the second order
binds it on every version.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar, overload

from ._cache import HydraCache
from ._cached import BoundCachedFunction as BoundCachedFunction
from ._cached import CachedFunction as CachedFunction
from ._cached import CacheTarget
from ._cached import get_default_cache as get_default_cache
from ._cached import set_default_cache as set_default_cache
from ._keys import namespace_prefix
from ._options import TTL, CacheOptions, resolve_ttl
from ._placement import Cost
from ._types import UNSET, Unset
from ._units import parse_seconds
from ._views import CacheView, TypedView
from .errors import ConfigError

__all__ = [
    "BoundCachedFunction",
    "CachedFunction",
    "get_default_cache",
    "hydra_cache",
    "set_default_cache",
]

P = ParamSpec("P")
R = TypeVar("R")

# -- the decorator -------------------------------------------------------------------


def _check_target(cache: object) -> CacheTarget | None:
    if cache is None or isinstance(cache, (HydraCache, CacheView, TypedView)):
        return cache
    raise ConfigError(
        f"cache= takes a HydraCache, a CacheView or a TypedView, not {cache!r}"
    )


@overload
def hydra_cache(func: Callable[P, R], /) -> CachedFunction[P, R]: ...


@overload
def hydra_cache(
    *,
    cache: CacheTarget | None = None,
    ttl: TTL | Unset = UNSET,
    tags: Iterable[str] | Callable[..., Iterable[str]] | None = None,
    key: Callable[..., Any] | None = None,
    namespace: str | None = None,
    cost: Cost | None = None,
    negative_ttl: float | datetime.timedelta | None = None,
    unless: Callable[[Any], object] | None = None,
    typed: bool = False,
    ignore_self: bool = False,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...


def hydra_cache(
    func: Callable[P, R] | None = None,
    /,
    *,
    cache: CacheTarget | None = None,
    ttl: TTL | Unset = UNSET,
    tags: Iterable[str] | Callable[..., Iterable[str]] | None = None,
    key: Callable[..., Any] | None = None,
    namespace: str | None = None,
    cost: Cost | None = None,
    negative_ttl: float | datetime.timedelta | None = None,
    unless: Callable[[Any], object] | None = None,
    typed: bool = False,
    ignore_self: bool = False,
) -> CachedFunction[P, R] | Callable[[Callable[P, R]], CachedFunction[P, R]]:
    """Memoize a function's results in a cache, keyed by its arguments.

    Usable bare (``@hydra_cache``) or with arguments (``@hydra_cache(ttl=60)``).

    Args:
        func: The function, when used bare.
        cache: A ``HydraCache``, a ``CacheView`` or a ``TypedView`` (results
            are then checked to be its type). Default: the process-wide cache
            (:func:`get_default_cache`), followed when it is replaced.
        ttl: Seconds, a ``timedelta`` or an ``Expires``; default: the cache's
            ``default_ttl``.
        tags: Tags for every result, or a callable taking the call's arguments
            (same signature as the function) and returning tags.
        key: A callable taking the call's arguments and returning the key: a
            non-empty ``str`` (used as is, under the cache's prefix and
            ``namespace``) or a tuple of key segments (validated like
            ``cache.key(...)``). Called on every call; no digest is taken.
        namespace: Store the results under this namespace of the cache.
        cost: The cost class (decides the base tier).
        negative_ttl: Seconds to cache a ``None`` result (default: the TTL).
        unless: A callable receiving the function's *result*; when it returns
            true the result is returned to the caller (and to callers waiting
            on the same load) but not stored. The load counts in ``loads``
            like any other (``load_errors`` counts only loader exceptions).
        typed: Like ``functools.lru_cache(typed=True)``: immediate arguments
            of different types (``1``, ``1.0``, ``True``) are cached
            separately. Otherwise equal values share an entry.
        ignore_self: Leave the first argument (``self``) out of the key.

    Returns:
        A :class:`CachedFunction` (or a decorator making one).

    Raises:
        ConfigError: An argument is invalid (checked when decorating).

    .. versionadded:: 0.1
    """
    target = _check_target(cache)
    if namespace is not None:
        namespace_prefix(namespace)
    options = CacheOptions()
    if ttl is not UNSET:
        resolve_ttl(ttl, None)  # validate now
        options = options.with_ttl(ttl)
    if cost is not None:
        if not isinstance(cost, Cost):
            raise ConfigError(f"cost must be a Cost, not {cost!r}")
        options = options.with_cost(cost)
    if negative_ttl is not None:
        parse_seconds(negative_ttl, name="negative_ttl")
        options = options.with_negative_ttl(negative_ttl)
    tag_fn: Callable[..., Iterable[str]] | None = None
    if callable(tags):
        tag_fn = tags
    elif tags is not None:
        options = options.tags(tags)
    for name, value in (("key", key), ("unless", unless)):
        if value is not None and not callable(value):
            raise ConfigError(f"{name}= must be callable, not {value!r}")
    final_options = None if options == CacheOptions() else options

    def decorate(function: Callable[P, R]) -> CachedFunction[P, R]:
        kind = "function"
        inner: Any = function
        if isinstance(inner, staticmethod):
            kind, inner = "static", inner.__func__
        elif isinstance(inner, classmethod):
            kind, inner = "class", inner.__func__
        if not callable(inner):
            raise ConfigError(f"@hydra_cache decorates a callable, not {inner!r}")
        return CachedFunction(
            inner,
            kind=kind,
            target=target,
            namespace=namespace,
            options=final_options,
            tags=tag_fn,
            key=key,
            unless=unless,
            typed=typed,
            ignore_self=ignore_self,
        )

    if func is not None:
        return decorate(func)
    return decorate
