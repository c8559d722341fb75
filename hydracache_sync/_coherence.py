"""Coherence: invalidations, applied locally and carried across processes.

An invalidation (:class:`Invalidation`: a key, a tag, a pattern or
everything) is applied to the local tier and the in-flight loads by
:class:`LocalDrops`, which also keeps the drop epoch and the keys whose
overtaken remote writes are still being undone. Every cache that shares a tier
able to broadcast (Redis pub/sub) publishes its invalidations there and
listens for the others' (:class:`Coherence`), through the listener shared by
every cache over the same connection pool (``_listener``). A listener that
loses its connection reports it at once (the cache drops its local copies and
stops trusting new ones) and, once subscribed again, reports the recovery (the
cache drops what it cached meanwhile): messages sent while it was away are
lost, so nothing from that time is kept.
"""

from __future__ import annotations

import enum
import functools
import threading
import uuid
from collections.abc import Callable
from typing import NamedTuple

from . import _stats as S
from ._listener import Membership, join
from ._remotes import Remote
from ._singleflight import Flight, SingleFlight
from ._stats import Counters
from .tiers.base import Broadcaster, RemoteTier, Versioned, wildcard_regex
from .tiers.local import LocalStore

__all__ = [
    "CLEAR",
    "DELETE",
    "PATTERN",
    "TAG",
    "Coherence",
    "Invalidation",
    "Invalidator",
    "LocalDrops",
    "Message",
    "Op",
    "decode",
    "encode",
]

_MAGIC = b"HCI1"
_ORIGIN_SIZE = 16


class Op(str, enum.Enum):
    """What an invalidation removes; the value is its one-byte wire code."""

    DELETE = "k"  # one key
    TAG = "t"  # every entry carrying a tag
    PATTERN = "p"  # every key a ``*`` pattern matches
    CLEAR = "c"  # everything the cache owns


DELETE, TAG, PATTERN, CLEAR = Op.DELETE, Op.TAG, Op.PATTERN, Op.CLEAR


class Invalidation(NamedTuple):
    """One invalidation: its kind and argument (``""`` for ``CLEAR``)."""

    op: Op
    arg: str = ""

    def drop_local(self, store: LocalStore) -> int:
        """Apply this to the local tier (lock held); return how many went."""
        op, arg = self.op, self.arg
        if op is Op.DELETE:
            return int(store.delete(arg))
        if op is Op.TAG:
            return store.invalidate_tag(arg)
        if op is Op.PATTERN:
            return store.invalidate_pattern(arg)
        return store.clear()

    def flight_matcher(self) -> Callable[[Flight], bool]:
        """Return a test telling which in-flight loads this makes stale."""
        op, arg = self.op, self.arg
        if op is Op.DELETE:
            return lambda flight: flight.key == arg
        if op is Op.TAG:
            return lambda flight: arg in flight.tags
        if op is Op.PATTERN:
            regex = wildcard_regex(arg)
            return lambda flight: regex.fullmatch(flight.key) is not None
        return lambda flight: True

    def on_tier(self, store: RemoteTier) -> tuple[Callable[..., int], tuple[str, ...]]:
        """Return the remote tier's method and arguments applying this."""
        op, arg = self.op, self.arg
        if op is Op.DELETE:
            return store.delete, (arg,)
        if op is Op.TAG:
            return store.invalidate_tag, (arg,)
        if op is Op.PATTERN:
            return store.invalidate_pattern, (arg,)
        return store.clear, ()


#: Drop everything (the listener lost or regained its channel).
_CLEAR_ALL = Invalidation(Op.CLEAR)


class Message(NamedTuple):
    """One invalidation: what to drop, and which cache sent it."""

    op: Op
    origin: str
    arg: str

    @property
    def invalidation(self) -> Invalidation:
        """The invalidation this message carries."""
        return Invalidation(self.op, self.arg)


def encode(op: Op, origin: str, arg: str) -> bytes:
    """Return the wire form of an invalidation (``origin``: 16 ASCII chars)."""
    return _MAGIC + op.value.encode() + origin.encode("ascii") + arg.encode("utf-8")


def decode(data: bytes) -> Message | None:
    """Parse a message; ``None`` for anything foreign or malformed."""
    head = len(_MAGIC)
    if len(data) < head + 1 + _ORIGIN_SIZE or not data.startswith(_MAGIC):
        return None
    try:
        op = Op(chr(data[head]))
    except ValueError:
        return None
    try:
        origin = data[head + 1 : head + 1 + _ORIGIN_SIZE].decode("ascii")
        arg = data[head + 1 + _ORIGIN_SIZE :].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return Message(op, origin, arg)


class LocalDrops:
    """The local side of invalidation: the local tier, in-flight loads, epoch.

    Every drop bumps :attr:`epoch`, so a read that began before it can tell
    that its remote value may be older than the drop. A detached load whose
    remote write may land after the drop is *unsettled*: readers skip the
    remote tiers for its key until its leader has undone that write.

    Args:
        store: The local tier.
        flights: The cache's in-flight loads.
    """

    __slots__ = ("_flights", "_store", "_unsettled", "epoch")

    def __init__(self, store: LocalStore, flights: SingleFlight) -> None:
        self._store = store
        self._flights = flights
        self._unsettled: dict[str, int] = {}
        #: Bumped by every drop (read without the lock, compared later).
        self.epoch = 0

    def drop(self, invalidation: Invalidation) -> int:
        """Apply one invalidation to the local tier and in-flight loads (lock held)."""
        removed = invalidation.drop_local(self._store)
        self.epoch += 1
        for flight in self._flights.detach(invalidation.flight_matcher()):
            self.unsettle(flight)
        return removed

    def is_unsettled(self, key: str) -> bool:
        """Whether a remote copy of ``key`` may be an overtaken write."""
        return key in self._unsettled

    def unsettle(self, flight: Flight | None) -> None:
        """Note a detached flight whose remote write may land after ours (lock held).

        Readers skip the remote tiers for its key until its leader has undone
        that write (:meth:`settle`), so they never pick up the overtaken value.
        """
        if flight is not None and flight.writing:
            self._unsettled[flight.key] = self._unsettled.get(flight.key, 0) + 1

    def after_fork(self) -> None:
        """In a forked child: forget the parent's unsettled keys; bump the epoch."""
        self._unsettled = {}
        self.epoch += 1

    def settle(self, key: str) -> None:
        """One overtaken write of ``key`` was undone (lock held)."""
        count = self._unsettled.get(key, 0) - 1
        if count > 0:
            self._unsettled[key] = count
        else:
            self._unsettled.pop(key, None)


class Coherence:
    """Carries invalidations between processes sharing a broadcasting tier.

    Args:
        broadcast: The shared tier able to broadcast, or ``None`` (this cache
            then neither publishes nor listens).
        lock: The cache's write lock.
        counters: Where remote invalidations and resyncs are counted.
        drop: Applies an invalidation locally (called with the lock held).
    """

    def __init__(
        self,
        broadcast: tuple[Remote, Broadcaster] | None,
        lock: threading.RLock,
        counters: Counters,
        drop: Callable[[Invalidation], int],
    ) -> None:
        self._broadcast = broadcast
        self._lock = lock
        self._counters = counters
        self._drop = drop
        self.origin = uuid.uuid4().hex[:16]
        self._coherent = True
        self._listener: Membership | None = None

    def start(self, wait: float = 1.0) -> None:
        """Join the pool's listener when broadcasting; wait for the subscription.

        Waits up to ``wait`` seconds, returning at once when the first attempt
        fails (the server is down: the listener keeps retrying).
        """
        if self._broadcast is None:
            return
        self._coherent = False  # until the listener is subscribed
        # The listener holds these bound methods weakly: it never keeps the
        # cache alive, and a cache nobody references is collected.
        self._listener = join(
            self._broadcast[1],
            on_message=self._on_message,
            on_lost=self._on_lost,
            on_restored=self._on_restored,
        )
        if wait > 0:
            self._listener.wait(wait)

    def stop(self) -> None:
        """Leave the listener (the last cache out stops its thread and waits).

        Local copies are untrusted from now.
        """
        if self._listener is not None:
            self._listener.leave()
        with self._lock:
            self._coherent = False

    def after_fork(self) -> None:
        """In a forked child: a new identity and a new subscription.

        The parent's messages must not look like this cache's own, and its
        listener thread does not exist here; until the new one is subscribed
        no local copy of shared data is kept (reads go to the shared tier).
        """
        self.origin = uuid.uuid4().hex[:16]
        if self._listener is not None:
            self._coherent = False
            self.start(wait=0)

    @property
    def broadcasting(self) -> bool:
        """Whether this cache publishes invalidations and listens for others'."""
        return self._broadcast is not None

    @property
    def listening(self) -> bool:
        """Whether invalidations from other processes reach this cache right now."""
        listener = self._listener
        return listener is not None and listener.live and self._coherent

    def may_copy_locally(self) -> bool:
        """Whether a local copy of shared data may be kept now (lock held).

        While the invalidation channel is down but the shared tier answers,
        reads go to the shared tier, which holds the truth: no local copy could
        be told of an invalidation. When the shared tier itself fails, no other
        process can invalidate through it either, so bounded local copies keep
        the cache serving; the resync on reconnect drops them.
        """
        if self._coherent or self._broadcast is None:
            return True
        return self._broadcast[0].guard.is_open

    def publish(self, invalidation: Invalidation) -> None:
        """Tell the other processes (queued for replay while the tier is down)."""
        self._send(invalidation, ("publish", invalidation.op, invalidation.arg))

    def notify_write(self, key: str) -> None:
        """Tell the other processes ``key`` was overwritten (never queued).

        A plain write is not queued for replay when the tier is down: under
        write load that would flood the queue. It is noted as lost instead,
        and once the tier is back the loss handler tells every process to
        drop its local copies (:meth:`tell_others_to_drop_all`).
        """
        self._send(Invalidation(DELETE, key), None)

    def _send(self, invalidation: Invalidation, key: tuple[str, ...] | None) -> None:
        if self._broadcast is None:
            return
        remote, broadcaster = self._broadcast
        message = encode(invalidation.op, self.origin, invalidation.arg)

        def publish() -> int:
            broadcaster.publish(message)
            return 0

        remote.guard.invalidate(publish, key=key)

    def tell_others_to_drop_all(self, remote: Remote) -> None:
        """Publish a clear of local copies, directly, if ``remote`` broadcasts.

        Raises:
            TierError: The tier failed (the caller retries later).
        """
        if self._broadcast is not None and self._broadcast[0] is remote:
            self._broadcast[1].publish(encode(CLEAR, self.origin, ""))

    def _on_message(self, data: bytes) -> None:
        message = decode(data)
        if message is None or message.origin == self.origin:
            return
        with self._lock:
            self._drop(message.invalidation)
        self._counters.add(S.REMOTE_INVALIDATIONS)

    def _on_lost(self) -> None:
        """The invalidation channel is down: trust no local copy of shared data."""
        with self._lock:
            if self._coherent:
                self._coherent = False
                self._drop(_CLEAR_ALL)

    def _on_restored(self, first: bool) -> None:
        """Subscribed again: drop what was cached while messages could be missed."""
        with self._lock:
            self._drop(_CLEAR_ALL)
            self._coherent = True
        if not first:
            self._counters.add(S.RESYNCS)


class Invalidator:
    """Applies an invalidation everywhere: locally, on each remote tier, elsewhere.

    Args:
        drops: The local side (local tier, in-flight loads).
        remotes: The remote tiers, fastest first.
        lock: The cache's write lock.
        coherence: Tells the other processes.
        counters: Where invalidations are counted.
    """

    __slots__ = ("_coherence", "_counters", "_drops", "_lock", "_remotes")

    def __init__(
        self,
        drops: LocalDrops,
        remotes: tuple[Remote, ...],
        lock: threading.RLock,
        coherence: Coherence,
        counters: Counters,
    ) -> None:
        self._drops = drops
        self._remotes = remotes
        self._lock = lock
        self._coherence = coherence
        self._counters = counters
        for remote in remotes:
            remote.guard.on_loss(functools.partial(self.recover, remote))

    def apply(self, invalidation: Invalidation) -> int:
        """Invalidate everywhere; return how many the fullest tier removed.

        The other processes are told even when a tier call raised (strict
        mode): their local copies are as stale either way.
        """
        drop = self._drops.drop
        with self._lock:
            removed = drop(invalidation)
        key = ("tier", invalidation.op, invalidation.arg)
        try:
            for remote in self._remotes:
                func, args = invalidation.on_tier(remote.store)
                count: int = remote.guard.invalidate(func, *args, key=key)
                removed = max(removed, count)
        finally:
            if self._remotes:
                # A load that began after the first drop may have read the old
                # value from a remote tier before the remote delete (a pattern
                # or clear takes several round trips) and copied it here or be
                # still in flight with it: drop again, so nothing older than
                # this invalidation outlives it.
                with self._lock:
                    drop(invalidation)
            self._coherence.publish(invalidation)
            self._counters.add(S.INVALIDATIONS)
        return removed

    def recover(self, remote: Remote) -> None:
        """``remote`` is back after invalidations meant for it were lost.

        It is untrusted for what it served meanwhile: loads in flight are made
        stale (its generations bumped), the other processes are told to drop
        their local copies, and so does this cache.

        Raises:
            TierError: The tier failed again (the guard retries later).
        """
        if isinstance(remote.store, Versioned):
            remote.store.bump_generation()
        self._coherence.tell_others_to_drop_all(remote)
        with self._lock:
            self._drops.drop(_CLEAR_ALL)
