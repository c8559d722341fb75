"""Fork safety: what a forked child redoes before using caches its parent built.

``fork()`` copies a process with one thread: the listener and refresh threads
of the parent are gone in the child, locks they held stay held, and sockets
are shared with the parent. So in the child, right after the fork, every live
cache drops its local copies (invalidations sent while it forked may be lost),
makes new locks and a new single-flight table, forgets its refresh pool and
joins a new listener; until that listener is subscribed the cache keeps no
local copy of shared data, so reads go to the shared tier. Registered once,
with :func:`os.register_at_fork`; a cache registers a bound method, held
weakly.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import _listener

if TYPE_CHECKING:
    from ._coherence import Coherence, LocalDrops
    from ._loading import Loading
    from ._singleflight import SingleFlight
    from ._stats import Counters, Timings
    from .tiers.local import LocalStore

__all__ = ["ForkReset", "on_fork"]

_callbacks: dict[int, weakref.WeakMethod[Callable[[], None]]] = {}


def on_fork(callback: Callable[[], None]) -> None:
    """Call ``callback`` (a bound method, held weakly) in every forked child."""
    key = id(callback.__self__)  # type: ignore[attr-defined]

    def forget(_: object, key: int = key) -> None:
        _callbacks.pop(key, None)

    _callbacks[key] = weakref.WeakMethod(callback, forget)


class ForkReset:
    """What one cache redoes in a forked child; registered on construction.

    Holds the cache's parts, not the cache (the registry holds this weakly,
    the cache strongly). The cache's lock is re-initialised in place: every
    part shares that one object.
    """

    def __init__(
        self,
        *,
        lock: threading.RLock,
        store: LocalStore,
        flights: SingleFlight,
        drops: LocalDrops,
        loading: Loading,
        coherence: Coherence,
        counters: Sequence[Counters | Timings],
    ) -> None:
        self._lock = lock
        self._store = store
        self._flights = flights
        self._drops = drops
        self._loading = loading
        self._coherence = coherence
        self._counters = counters
        on_fork(self.in_child)

    def in_child(self) -> None:
        """Drop the parent's in-process state, then subscribe anew."""
        # The stdlib's own at-fork re-initialisation (threading and logging
        # use it): the lock is free again, whoever held it in the parent.
        self._lock._at_fork_reinit()  # type: ignore[attr-defined]
        self._store.after_fork()
        self._flights.after_fork()
        self._drops.after_fork()
        self._loading.after_fork()
        for counters in self._counters:
            counters.after_fork()
        self._coherence.after_fork()


def _in_child() -> None:
    _listener.reset_after_fork()
    for ref in list(_callbacks.values()):
        callback = ref()
        if callback is not None:
            callback()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_in_child)
