"""The shared invalidation listener: one thread and one subscription per pool.

Every cache over a tier able to broadcast (Redis pub/sub) listens for the
other processes' invalidations. One daemon thread and one subscription serve
every cache over the same connection pool (the tier's ``listener_group``),
whatever their channels: a process building a cache per job or per request
holds one pub/sub connection per pool, not one per cache. The listener holds
its caches weakly, so a cache nobody references is collected, and the thread
ends once its last cache is closed or collected.

A listener that loses its connection tells every cache at once (each drops its
local copies and stops trusting new ones) and, once subscribed again, tells
each of the recovery (each drops what it cached meanwhile): messages sent
while it was away are lost. The loss is logged once at WARNING, the recovery
once at INFO.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable

from .tiers.base import Broadcaster, Subscription

__all__ = ["Membership", "join", "listener_threads", "reset_after_fork"]

log = logging.getLogger("hydracache_sync")
_POLL = 0.2


class Membership:
    """One cache's place in a shared listener: its channel and its callbacks.

    The cache keeps this object; the listener holds it (and the callbacks'
    owner) only weakly. Built by :func:`join`.
    """

    __slots__ = (
        "__weakref__",
        "_first",
        "_lost",
        "_message",
        "_pid",
        "_restored",
        "_settled",
        "broadcaster",
        "channel",
        "connected",
        "hub",
    )

    def __init__(
        self,
        broadcaster: Broadcaster,
        on_message: Callable[[bytes], None],
        on_lost: Callable[[], None],
        on_restored: Callable[[bool], None],
    ) -> None:
        self.broadcaster = broadcaster
        self.channel = broadcaster.channel
        self._message = weakref.WeakMethod(on_message)
        self._lost = weakref.WeakMethod(on_lost)
        self._restored = weakref.WeakMethod(on_restored)
        self._first = True
        self._pid = os.getpid()
        self.hub: _Hub | None = None
        #: Set while a confirmed subscription to :attr:`channel` serves us.
        self.connected = threading.Event()
        #: Set once the first subscription attempt ended (either way).
        self._settled = threading.Event()

    @property
    def live(self) -> bool:
        """Whether invalidations reach this member right now, in this process."""
        return self.connected.is_set() and self._pid == os.getpid()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the first attempt; tell if subscribed."""
        self._settled.wait(timeout)
        return self.live

    def leave(self) -> None:
        """Stop receiving; stop the listener (and wait) if this was its last."""
        self.connected.clear()
        hub, self.hub = self.hub, None
        if hub is not None:
            hub.remove(self)

    # -- called from the listener thread -------------------------------------

    def deliver(self, data: bytes) -> None:
        callback = self._message()
        if callback is not None:
            callback(data)

    def lost(self) -> None:
        self.connected.clear()
        callback = self._lost()
        if callback is not None:
            callback()
        self._settled.set()

    def restored(self) -> None:
        callback = self._restored()
        if callback is not None:
            callback(self._first)
            self._first = False
        self.connected.set()
        self._settled.set()


class _Hub:
    """One listener thread and one subscription for a group of members."""

    def __init__(self, key: int, group: object, poll: float) -> None:
        self.key = key
        self._group = group  # keeps the key's object (and its id) alive
        self._poll = poll
        self._members: weakref.WeakSet[Membership] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._confirmed: set[str] = set()
        self._stop = threading.Event()
        self.retired = False
        self._down = False  # a loss was logged; the recovery is logged next
        self.thread = threading.Thread(
            target=self._run, name="hydracache-listener", daemon=True
        )

    # -- membership (any thread) ----------------------------------------------

    def add(self, member: Membership) -> bool:
        """Add ``member`` (registry lock held); tell if its channel is live."""
        with self._lock:
            self._members.add(member)
            member.hub = self
            return member.channel in self._confirmed

    def remove(self, member: Membership) -> None:
        """Drop ``member``; the last one out stops the thread and waits for it."""
        with _registry_lock:
            self._members.discard(member)
            last = not self._members and not self.retired
            if last:
                self._retire()
        if last:
            self._stop.set()
            if self.thread is not threading.current_thread():
                self.thread.join()

    def _retire(self) -> None:
        """Leave the registry (registry lock held): new members get a new hub."""
        self.retired = True
        if _hubs.get(self.key) is self:
            del _hubs[self.key]

    def _snapshot(self) -> tuple[Broadcaster | None, set[str]]:
        """A live member's tier and every wanted channel; retire when none."""
        with _registry_lock:
            members = list(self._members)
            if not members:
                self._retire()
                return None, set()
            broadcaster = members[0].broadcaster
            channels = {m.channel for m in members}
        return broadcaster, channels

    def _on(self, channel: str | None) -> list[Membership]:
        with self._lock:
            return [m for m in self._members if channel is None or m.channel == channel]

    # -- the thread ------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            broadcaster, channels = self._snapshot()
            if broadcaster is None:
                return
            try:
                subscription = broadcaster.subscribe(channels)
            except Exception as exc:  # TierError, or a client closed under us
                del broadcaster
                self._failed(exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 1.0)
                continue
            del broadcaster
            delay = 0.05
            try:
                if not self._serve(subscription, channels):
                    return
            except Exception as exc:  # any failure: messages may be lost
                with self._lock:
                    self._confirmed.clear()
                self._failed(exc)
                self._stop.wait(delay)
            finally:
                subscription.close()
                with self._lock:
                    self._confirmed.clear()

    def _serve(self, subscription: Subscription, requested: set[str]) -> bool:
        """Dispatch events until cut (raises) or no member is left (False)."""
        while not self._stop.is_set():
            broadcaster, wanted = self._snapshot()
            if broadcaster is None:
                return False
            del broadcaster  # hold no member's objects while waiting
            if wanted - requested:
                subscription.add(wanted - requested)
            if requested - wanted:
                subscription.remove(requested - wanted)
                with self._lock:
                    self._confirmed &= wanted
            requested = wanted
            event = subscription.get(self._poll)
            if event is not None:
                # In a helper: its loop variables must not outlive the call,
                # or they would keep a member (and its cache) alive.
                self._dispatch(event.channel, event.data)
        return True

    def _dispatch(self, channel: str, data: bytes | None) -> None:
        if data is not None:
            for member in self._on(channel):
                member.deliver(data)
            return
        with self._lock:
            self._confirmed.add(channel)
        if self._down:
            self._down = False
            log.info(
                "hydracache_sync: invalidation channel is back; "
                "local copies are kept again"
            )
        for member in self._on(channel):
            if not member.connected.is_set():
                member.restored()

    def _failed(self, exc: Exception) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "hydracache_sync: invalidation channel lost (%s); local copies "
                "dropped; reads go to Redis until it is back",
                exc,
            )
        for member in self._on(None):
            member.lost()


_registry_lock = threading.Lock()
_hubs: dict[int, _Hub] = {}


def join(
    broadcaster: Broadcaster,
    *,
    on_message: Callable[[bytes], None],
    on_lost: Callable[[], None],
    on_restored: Callable[[bool], None],
    poll: float = _POLL,
) -> Membership:
    """Have ``broadcaster``'s channel heard, on its group's shared listener.

    The callbacks must be bound methods: they are held weakly. They run on the
    listener thread (``on_restored`` also in the caller's when the channel is
    already subscribed). Call :meth:`Membership.wait` to wait for the first
    subscription and :meth:`Membership.leave` to stop.
    """
    member = Membership(broadcaster, on_message, on_lost, on_restored)
    group = broadcaster.listener_group
    with _registry_lock:
        hub = _hubs.get(id(group))
        start = hub is None or hub.retired
        if hub is None or hub.retired:
            hub = _hubs[id(group)] = _Hub(id(group), group, poll)
        ready = hub.add(member)
    if start:
        hub.thread.start()
    elif ready:  # the channel is subscribed already: served from now on
        member.restored()
    return member


def listener_threads() -> int:
    """Return how many shared listener threads run in this process."""
    with _registry_lock:
        return sum(1 for hub in _hubs.values() if hub.thread.is_alive())


def reset_after_fork() -> None:
    """Forget the parent's listeners (their threads do not exist in a child).

    Called in a forked child before any cache re-joins; the parent's locks
    may have been held by threads that are gone, so they are made anew.
    """
    global _registry_lock
    _registry_lock = threading.Lock()
    _hubs.clear()
