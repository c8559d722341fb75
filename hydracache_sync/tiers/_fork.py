"""Fork safety for tiers: detach sockets a child inherited, without closing them.

A forked child shares its parent's sockets. Closing an inherited database
connection the usual way (libpq's ``PQfinish``) would send the server a
Terminate message and end the *parent's* session; using it would interleave
two processes' protocol streams. So in the child each inherited socket is
replaced by ``/dev/null`` (``dup2``): the parent's connection stays intact,
and the child's copy fails on first use, or is closed harmlessly.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = ["ForkAware", "detach", "register"]


class ForkAware(Protocol):
    """An object with state to redo in a forked child."""

    def after_fork_in_child(self) -> None:
        """Drop what belongs to the parent (runs right after ``fork()``)."""


_members: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_hooked = False


def register(member: ForkAware) -> None:
    """Call ``member.after_fork_in_child()`` in every forked child (held weakly)."""
    global _hooked
    if not _hooked and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_in_child)
        _hooked = True
    _members.add(member)


def _in_child() -> None:
    for member in list(_members):
        with contextlib.suppress(Exception):  # one broken tier must not stop others
            member.after_fork_in_child()


def detach(filenos: Iterable[Callable[[], int]]) -> int:
    """Point each inherited descriptor at ``/dev/null``; return how many.

    Args:
        filenos: Callables returning the descriptors (a closed connection's
            raises and is skipped).
    """
    null = os.open(os.devnull, os.O_RDWR)
    count = 0
    try:
        for fileno in filenos:
            fd = -1
            with contextlib.suppress(Exception):  # closed: nothing shared any more
                fd = fileno()
            if fd >= 0:
                os.dup2(null, fd)
                count += 1
    finally:
        os.close(null)
    return count
