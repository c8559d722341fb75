"""A client-side deadline for blocking socket calls: cut the socket when it passes.

A server that is frozen (SIGSTOP, a hung host behind a live kernel) keeps its
TCP connections open and acknowledged, so neither server-side timeouts
(``statement_timeout``) nor TCP keepalives ever fire, and a driver blocked in
``recv`` waits for as long as the server hangs. A :class:`Watchdog` tracks the
sockets of calls in flight and, when a call outlives its deadline, shuts its
socket down (``shutdown(SHUT_RDWR)`` on a duplicate of the descriptor): the
blocked ``recv`` returns at once, the driver reports a lost connection, and
the caller discards that connection. Stdlib only.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time
import weakref

__all__ = ["Watchdog"]

_ALL: weakref.WeakSet[Watchdog] = weakref.WeakSet()


class Watchdog:
    """One daemon thread cutting the sockets of calls past their deadline.

    Arming and disarming are a dict write under an uncontended lock; the
    thread wakes every ``tick`` seconds (and parks after ``idle`` seconds
    without calls), so a deadline is enforced at most ``tick`` late.

    Args:
        name: Names the thread (``hydracache-watchdog-<name>``).
        tick: The most a deadline may be enforced late, in seconds.
        idle: Seconds without calls after which the thread exits (it starts
            again with the next call).
    """

    def __init__(self, name: str, *, tick: float = 0.05, idle: float = 30.0) -> None:
        self._name = name
        self._tick = tick
        self._idle = idle
        self._lock = threading.Lock()
        self._active: dict[int, tuple[float, int]] = {}
        self._cut: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False
        _ALL.add(self)

    def arm(self, fd: int, deadline: float) -> int:
        """Watch socket ``fd`` until ``deadline`` (monotonic); return a token."""
        token = next(self._tokens)
        with self._lock:
            self._active[token] = (deadline, fd)
            if self._thread is None:
                self._start()
        return token

    def disarm(self, token: int) -> bool:
        """Stop watching; tell whether the deadline passed and the socket was cut."""
        with self._lock:
            self._active.pop(token, None)
            if token in self._cut:
                self._cut.discard(token)
                return True
        return False

    def close(self) -> None:
        """Stop the thread (calls still armed are no longer watched)."""
        with self._lock:
            self._closed = True
            self._active.clear()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def after_fork(self) -> None:
        """Reset in a forked child: no thread runs there, no call is in flight."""
        self._lock = threading.Lock()  # may have been held at the fork
        self._active.clear()
        self._cut.clear()
        self._thread = None

    def _start(self) -> None:
        """Start the thread (lock held)."""
        if self._closed:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"hydracache-watchdog-{self._name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        quiet_since = time.monotonic()
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                if self._thread is not me:
                    return  # closed
                if not self._active:
                    if now - quiet_since >= self._idle:
                        self._thread = None
                        return
                    continue
                quiet_since = now
                for token, (deadline, fd) in list(self._active.items()):
                    if deadline <= now:
                        del self._active[token]
                        self._cut.add(token)
                        _shutdown(fd)


def _forget_threads() -> None:
    """In a forked child no thread runs: the next call starts a fresh one."""
    for watchdog in list(_ALL):
        watchdog.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads)


def _shutdown(fd: int) -> None:
    """Shut the socket behind ``fd`` down both ways, leaving ``fd`` open."""
    try:
        copy = os.dup(fd)
    except OSError:
        return
    try:
        sock = socket.socket(fileno=copy)
    except OSError:
        os.close(copy)
        return
    with contextlib.suppress(OSError), sock:
        sock.shutdown(socket.SHUT_RDWR)
