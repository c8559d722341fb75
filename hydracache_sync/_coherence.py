"""Coherence across processes: invalidation messages and the listener thread.

Every cache that shares a tier able to broadcast (Redis pub/sub) publishes its
invalidations there and runs one daemon thread applying the others' to its
local tier. A listener that loses its connection reports it at once (the
cache drops its local copies and stops trusting new ones) and, once
subscribed again, reports the recovery (the cache drops what it cached
meanwhile): messages sent while it was away are lost, so nothing from that
time is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from .tiers.base import Broadcaster

__all__ = [
    "CLEAR",
    "DELETE",
    "PATTERN",
    "TAG",
    "Listener",
    "Message",
    "decode",
    "encode",
]

_MAGIC = b"HCI1"
_ORIGIN_SIZE = 16
DELETE, TAG, PATTERN, CLEAR = "k", "t", "p", "c"
_OPS = frozenset((DELETE, TAG, PATTERN, CLEAR))


class Message(NamedTuple):
    """One invalidation: what to drop, and which cache sent it."""

    op: str
    origin: str
    arg: str


def encode(op: str, origin: str, arg: str) -> bytes:
    """Return the wire form of an invalidation (``origin``: 16 ASCII chars)."""
    return _MAGIC + op.encode() + origin.encode("ascii") + arg.encode("utf-8")


def decode(data: bytes) -> Message | None:
    """Parse a message; ``None`` for anything foreign or malformed."""
    head = len(_MAGIC)
    if len(data) < head + 1 + _ORIGIN_SIZE or not data.startswith(_MAGIC):
        return None
    op = chr(data[head])
    if op not in _OPS:
        return None
    try:
        origin = data[head + 1 : head + 1 + _ORIGIN_SIZE].decode("ascii")
        arg = data[head + 1 + _ORIGIN_SIZE :].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return Message(op, origin, arg)


class Listener:
    """One daemon thread subscribed to a tier's invalidation channel.

    Args:
        broadcaster: The tier carrying messages.
        on_message: Called with each message's bytes.
        on_lost: Called when the subscription cannot be had or breaks.
        on_restored: Called once subscribed, with ``True`` the first time.
        poll: Seconds each wait for a message may block (bounds stop latency).
    """

    def __init__(
        self,
        broadcaster: Broadcaster,
        *,
        on_message: Callable[[bytes], None],
        on_lost: Callable[[], None],
        on_restored: Callable[[bool], None],
        poll: float = 0.2,
    ) -> None:
        self._broadcaster = broadcaster
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_restored = on_restored
        self._poll = poll
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._tried = threading.Event()  # the first subscription attempt ended
        self._thread = threading.Thread(
            target=self._run, name="hydracache-listener", daemon=True
        )

    def start(self, wait: float = 1.0) -> bool:
        """Start the thread; wait up to ``wait`` s for the first subscription.

        Returns at once when that first attempt fails (the server is down):
        the thread keeps retrying in the background.
        """
        self._thread.start()
        self._tried.wait(wait)
        return self.connected.is_set()

    def stop(self) -> None:
        """Stop the thread and wait for it (at most about one ``poll``)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        first, delay = True, 0.05
        while not self._stop.is_set():
            try:
                subscription = self._broadcaster.subscribe()
            except Exception:  # TierError, or a client closed under us
                self._tried.set()
                self._on_lost()
                self._stop.wait(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            try:
                self._on_restored(first)
                first = False
                self.connected.set()
                self._tried.set()
                while not self._stop.is_set():
                    data = subscription.get(self._poll)
                    if data is not None:
                        self._on_message(data)
            except Exception:  # any failure: messages may be lost
                self.connected.clear()
                self._on_lost()
                self._stop.wait(delay)
            finally:
                subscription.close()
