"""A memoizing decorator whose cache is looked up per call (e.g. Flask's current app).

``@hydra.memoize(...)`` may decorate functions at import time, before
``init_app`` and for several apps: each call asks ``resolve()`` for the cache
of the moment and uses one ``@hydra_cache`` wrapper per cache (built on first
use, forgotten with the cache). ``enabled()`` returning false calls the
function directly (caching switched off, as in tests).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, cast

from ._cache import HydraCache
from ._decorator import CachedFunction, hydra_cache

__all__ = ["LateMemoized"]

P = ParamSpec("P")
R = TypeVar("R")


class LateMemoized(Generic[P, R]):
    """A function memoized in whichever cache ``resolve()`` returns per call.

    ``invalidate(*args)`` and ``cache_key(*args)`` work like those of
    :class:`~hydracache_sync.CachedFunction`, against the current cache.
    """

    def __init__(
        self,
        function: Callable[P, R],
        resolve: Callable[[], HydraCache],
        enabled: Callable[[], bool],
        options: dict[str, Any],
    ) -> None:
        self._function = function
        self._resolve = resolve
        self._enabled = enabled
        self._options = options
        self._wrappers: weakref.WeakKeyDictionary[HydraCache, CachedFunction[P, R]]
        self._wrappers = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.check(options)
        functools.update_wrapper(self, function)

    @staticmethod
    def check(options: dict[str, Any]) -> None:
        """Raise ConfigError now for options ``@hydra_cache`` would refuse."""
        hydra_cache(cache=None, **options)

    def _for(self, cache: HydraCache) -> CachedFunction[P, R]:
        wrapper = self._wrappers.get(cache)
        if wrapper is None:
            with self._lock:
                wrapper = self._wrappers.get(cache)
                if wrapper is None:
                    decorate = hydra_cache(cache=cache, **self._options)
                    wrapper = self._wrappers[cache] = decorate(self._function)
        return wrapper

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if not self._enabled():
            return self._function(*args, **kwargs)
        return self._for(self._resolve())(*args, **kwargs)

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return functools.partial(cast("Any", self), instance)

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the cached result for these arguments in the current cache."""
        return bool(self._for(self._resolve()).invalidate(*args, **kwargs))

    def cache_key(self, *args: Any, **kwargs: Any) -> str:
        """The key these arguments use in the current cache."""
        return self._for(self._resolve()).cache_key(*args, **kwargs)
