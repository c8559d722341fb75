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
import weakref
from collections.abc import Callable

from . import _listener

__all__ = ["on_fork"]

_callbacks: dict[int, weakref.WeakMethod[Callable[[], None]]] = {}


def on_fork(callback: Callable[[], None]) -> None:
    """Call ``callback`` (a bound method, held weakly) in every forked child."""
    key = id(callback.__self__)  # type: ignore[attr-defined]

    def forget(_: object, key: int = key) -> None:
        _callbacks.pop(key, None)

    _callbacks[key] = weakref.WeakMethod(callback, forget)


def _in_child() -> None:
    _listener.reset_after_fork()
    for ref in list(_callbacks.values()):
        callback = ref()
        if callback is not None:
            callback()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_in_child)
