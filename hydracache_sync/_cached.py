"""The wrapper ``@hydra_cache`` returns (and its bound form) and the default cache.

A :class:`CachedFunction` binds to its cache lazily (the default cache is
created on first use, and wrappers without ``cache=`` follow
:func:`set_default_cache`). Its hit path reads the key remembered for the
argument tuple (``_keys.KeyMemo``, read without a lock), then the engine's
local hit; anything else goes through ``get_or_load``. How keys are made,
and why, is told in ``_decorator.py``'s docstring and in ``_keys/args.py``.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeAlias, TypeVar, overload

from ._cache import HydraCache, Uncached
from ._keys import (
    KW,
    ArgumentKeys,
    KeyMemo,
    custom_key,
    function_prefix,
    memo_retainable,
)
from ._options import CacheOptions
from ._types import MISSING
from ._views import CacheView, TypedView
from .errors import ConfigError

if TYPE_CHECKING:
    from ._builder import Checker
    from ._engine import Engine

__all__ = [
    "BoundCachedFunction",
    "CacheTarget",
    "CachedFunction",
    "get_default_cache",
    "set_default_cache",
]

P = ParamSpec("P")
R = TypeVar("R")

#: What ``cache=`` accepts.
CacheTarget: TypeAlias = "HydraCache | CacheView | TypedView[Any]"

# -- the process-wide default cache ---------------------------------------------------

_default: HydraCache | CacheView | None = None
_default_lock = threading.Lock()
# Wrappers without cache= follow set_default_cache(): they are rebound there.
_followers: weakref.WeakSet[CachedFunction[Any, Any]] = weakref.WeakSet()


def get_default_cache() -> HydraCache | CacheView:
    """Return the cache ``@hydra_cache`` uses without ``cache=``.

    Created on first use as ``HydraCache.local()`` (memory only, 64 MB).

    .. versionadded:: 0.1
    """
    global _default
    cache = _default
    if cache is None:
        with _default_lock:
            if _default is None:
                _default = HydraCache.local()
            cache = _default
    return cache


def set_default_cache(cache: HydraCache | CacheView | None) -> None:
    """Replace the process-wide default cache (``None``: a fresh one on next use).

    Functions already decorated without ``cache=`` switch to it at once (their
    remembered keys are dropped, since a view's prefix may differ).

    Raises:
        ConfigError: ``cache`` is neither a ``HydraCache`` nor a ``CacheView``.

    .. versionadded:: 0.1
    """
    global _default
    if cache is not None and not isinstance(cache, (HydraCache, CacheView)):
        raise ConfigError(
            f"the default cache must be a HydraCache or a CacheView, not {cache!r}"
        )
    with _default_lock:
        _default = cache
    for follower in list(_followers):
        follower._unbind()


# -- the wrapper ---------------------------------------------------------------------

# Keys remembered per function and generation: as many as the local tier can
# hold entries (its max_bytes over _MEMO_BYTES, about the memory of a small
# local entry), between 4,096 and _MEMO_SIZE. The two generations then keep
# every argument tuple whose result the local tier keeps (a view keyed by user
# id, an ETL step over 100 k rows); each costs its tuple and a dict slot (the
# key string is the local tier's own).
_MEMO_SIZE = 131_072
_MEMO_BYTES = 512


def _nothing(key: str) -> Any:
    """The local hit before the wrapper is bound to a cache: nothing there."""
    return MISSING


class CachedFunction(Generic[P, R]):
    """A function memoized in a cache; what ``@hydra_cache`` returns.

    Calls return the cached result for their arguments, or run the function
    once on a miss (concurrent callers wait for that one run). Attributes:
    ``__wrapped__`` (the function), ``cache`` (the cache or view used),
    ``invalidate(*args, **kwargs)``, ``cache_key(*args, **kwargs)`` and
    ``invalidate_all()``.

    .. versionadded:: 0.1
    """

    __wrapped__: Callable[P, R]

    def __init__(
        self,
        func: Callable[P, R],
        *,
        kind: str,
        target: CacheTarget | None,
        namespace: str | None,
        options: CacheOptions | None,
        tags: Callable[..., Iterable[str]] | None,
        key: Callable[..., Any] | None,
        unless: Callable[[Any], object] | None,
        typed: bool,
        ignore_self: bool,
    ) -> None:
        functools.update_wrapper(self, func)
        self._func = func
        self._kind = kind
        self._target_arg = target
        self._namespace = namespace
        self._options = options
        self._tag_fn = tags
        self._key_fn = key
        self._unless = unless
        self._typed = typed
        self._ignore_self = ignore_self
        self._signature = inspect.signature(func)
        params = list(self._signature.parameters.values())
        if ignore_self and (
            not params
            or params[0].kind
            not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            )
        ):
            raise ConfigError(
                f"ignore_self=True but {func.__qualname__} has no first positional "
                "parameter to leave out"
            )
        # A method's instance enters memo keys through __cache_key__() (see
        # _memo_key); "self" as the first parameter's name marks a method.
        self._self_first = (
            kind == "function"
            and not ignore_self
            and bool(params)
            and params[0].name == "self"
        )
        self._simple = not (typed or ignore_self or key or self._self_first)
        self._base = function_prefix(func)
        self._arguments = ArgumentKeys(
            self._signature,
            qualname=func.__qualname__,
            typed=typed,
            ignore_self=ignore_self,
        )
        self._memo = KeyMemo(_MEMO_SIZE)
        self._recent = self._memo.recent  # the hit path's lock-free lookup
        self._memo_lock = threading.Lock()
        # Bound lazily (the default cache is created on first use).
        self._cache: Engine | None = None
        self._view: CacheTarget | None = None
        self._prefix = ""
        self._check: Checker | None = None
        # The engine's local hit (MISSING on a miss), bound once per binding.
        self._local_hit: Callable[[str], Any] = _nothing
        if target is None:
            _followers.add(self)

    # -- binding to the cache ---------------------------------------------------------

    def _bind(self) -> Engine:
        target = self._target_arg
        if target is None:
            target = get_default_cache()
        if self._namespace is not None:
            target = target.namespace(self._namespace)
        cache: Engine
        if isinstance(target, HydraCache):
            cache, prefix, check = target, "", None
        else:
            cache, prefix, check = target.cache, target.prefix, target.value_check
        capacity = min(
            _MEMO_SIZE, max(4096, cache.local_store.max_bytes // _MEMO_BYTES)
        )
        with self._memo_lock:
            self._memo.forget(capacity)
            self._view = target
            self._prefix = prefix
            self._check = check
            self._cache = cache
            self._local_hit = cache.local_hit
        return cache

    def _unbind(self) -> None:
        with self._memo_lock:
            self._cache = None
            self._view = None
            self._local_hit = _nothing
            self._memo.forget()

    def _bound_cache(self) -> Engine:
        cache = self._cache
        return cache if cache is not None else self._bind()

    @property
    def cache(self) -> CacheTarget:
        """The cache or view this function's results live in."""
        self._bound_cache()
        view = self._view
        assert view is not None  # noqa: S101 - set by _bind
        return view

    # -- keys -------------------------------------------------------------------------

    def _memo_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._ignore_self and args:
            args = args[1:]
        elif self._self_first and args:
            head = args[0]
            cls = type(head)
            if getattr(cls, "__cache_key__", None) is not None:
                # The key depends on the instance only through this value: keep
                # the value and the class, never the instance.
                args = (KW, cls, head.__cache_key__(), *args[1:])
        if kwargs:
            memo_key: tuple[Any, ...] = (*args, KW, *kwargs.items())
        else:
            memo_key = args
        if self._typed:
            memo_key = (*memo_key, KW, *map(type, args), *map(type, kwargs.values()))
        return memo_key

    def _key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Return the full key for a call (remembering it when it is safe to)."""
        if self._key_fn is not None:
            return self._custom_key(args, kwargs)
        memo_key = self._memo_key(args, kwargs)
        if self._cache is None:
            self._bind()
        try:
            found = self._memo.recall(memo_key)
        except TypeError:  # unhashable arguments: compute every time
            return self._prefix + self._base + self._arguments.digest(args, kwargs)
        if found is not None:
            return found
        key = self._prefix + self._base + self._arguments.digest(args, kwargs)
        if memo_retainable(memo_key):
            with self._memo_lock:
                if self._cache is not None:  # not unbound meanwhile
                    self._memo.remember(memo_key, key)
        return key

    def _custom_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        assert self._key_fn is not None  # noqa: S101 - only called with key=
        made = self._key_fn(*args, **kwargs)
        if self._cache is None:
            self._bind()
        return custom_key(self._prefix, made, self._func.__qualname__)

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Return the key a call with these arguments uses.

        Raises:
            TypeError: An argument has no canonical form (see ``key=``).
        """
        return self._key(args, kwargs)

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the cached result for these arguments; tell whether one was there."""
        key = self._key(args, kwargs)
        return self._bound_cache().delete(key)

    def invalidate_all(self) -> int:
        """Drop every cached result of this function (a wildcard invalidation).

        Not available with ``key=`` (the keys are yours; invalidate them).

        Returns:
            How many were removed (from the tier that held the most).
        """
        if self._key_fn is not None:
            raise ConfigError("invalidate_all() needs the default keys, not key=")
        cache = self._bound_cache()
        return cache.invalidate(self._prefix + self._base + "*")

    # -- calls ------------------------------------------------------------------------

    def __call__(self, /, *args: P.args, **kwargs: P.kwargs) -> R:
        # The hit path: the remembered key, then the cache's lock-free get.
        if self._simple:
            try:
                key = self._recent[(*args, KW, *kwargs.items()) if kwargs else args]
            except (KeyError, TypeError):
                key = self._key(args, kwargs)
        else:
            key = self._key(args, kwargs)
        # A fresh local entry is served by the engine's local hit (which
        # counts it); anything else goes to get_or_load alone, so a miss is
        # counted once and the remote tiers are read once.
        value = self._local_hit(key)
        if value is not MISSING:
            return value  # type: ignore[no-any-return]
        return self._load(key, args, kwargs)

    def _load(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        cache = self._bound_cache()
        func = self._func
        check = self._check
        unless = self._unless

        def loader() -> R:
            value = func(*args, **kwargs)
            if check is not None and value is not None:
                check(value)
            if unless is not None and unless(value):
                return Uncached(value)  # type: ignore[return-value]
            return value

        if self._tag_fn is None:
            return cache.get_or_load(key, loader, options=self._options)
        tags = self._tag_fn(*args, **kwargs)
        if isinstance(tags, str):
            tags = [tags]
        return cache.get_or_load(key, loader, options=self._options, tags=tags)

    # -- descriptor: methods, class methods, static methods ---------------------------

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> CachedFunction[P, R]: ...

    @overload
    def __get__(
        self, obj: object, owner: type | None = None
    ) -> BoundCachedFunction[R]: ...

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        kind = self._kind
        if kind == "static":
            return self
        if kind == "class":
            return BoundCachedFunction(self, owner if owner is not None else type(obj))
        if obj is None:
            return self
        return BoundCachedFunction(self, obj)

    def __repr__(self) -> str:
        return f"<hydra_cache {self._base[:-1]}>"


class BoundCachedFunction(Generic[R]):
    """A ``CachedFunction`` bound to an instance (or a class): what ``obj.method`` is.

    Created per attribute access and never stored, so it does not keep the
    instance alive beyond the call.

    .. versionadded:: 0.1
    """

    __slots__ = ("__func__", "__self__")

    def __init__(self, func: CachedFunction[..., R], obj: object) -> None:
        self.__func__ = func
        self.__self__ = obj

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return self.__func__(self.__self__, *args, **kwargs)

    def cache_key(self, *args: Any, **kwargs: Any) -> str:
        """Return the key this bound call uses."""
        return self.__func__.cache_key(self.__self__, *args, **kwargs)

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the cached result of this bound call."""
        return self.__func__.invalidate(self.__self__, *args, **kwargs)

    def invalidate_all(self) -> int:
        """Drop every cached result of the method (all instances)."""
        return self.__func__.invalidate_all()

    @property
    def cache(self) -> CacheTarget:
        """The cache or view the results live in."""
        return self.__func__.cache

    @property
    def __wrapped__(self) -> Callable[..., R]:
        return self.__func__.__wrapped__

    def __getattr__(self, name: str) -> Any:
        # __name__, __qualname__, __module__ and the like come from the function.
        return getattr(self.__func__, name)

    def __repr__(self) -> str:
        return f"<bound {self.__func__!r} of {self.__self__!r}>"
