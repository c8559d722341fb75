"""What happens when a remote tier fails: count, warn (rate-limited), break, replay.

By default a failing tier degrades: the read is a miss, the write is skipped,
``tier_errors`` counts it, a warning is logged at most once per interval, and a
breaker skips the tier for a cool-down before letting one call probe it. With
``strict`` every ``TierError`` propagates.

An invalidation that could not reach the tier is queued for replay, coalesced
by what it removes (one item per key, tag or pattern; a clear supersedes the
rest), at most :data:`MAX_PENDING` items. While items are queued a background
thread probes the tier once per cool-down and replays them as soon as it
answers, so other processes stop seeing removed values without waiting for
this cache's next call; a user call that reaches the tier first replays them
before its own work. An item the tier refuses (the server answered with an
error, or the driver rejected it) is dropped, counted in
``dropped_invalidations`` and logged: it never blocks the queue. Past the
limit, further invalidations are dropped and counted, and the tier is marked
untrusted: after the replay, the loss handler runs (the cache drops its local
copies, bumps the tier's generations and tells the other processes to drop
theirs). Nothing is ever cleared in the tier itself. ``close()`` makes one
last attempt to deliver the queue, then logs and counts what is left.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from ._stats import DROPPED_INVALIDATIONS, TIER_ERRORS, Counters, Timings
from .errors import TierError, TierTimeoutError, TierUnavailableError

__all__ = ["MAX_PENDING", "TierGuard"]

log = logging.getLogger("hydracache_sync")
R = TypeVar("R")

#: Distinct invalidations kept for replay per tier; past this they are dropped
#: and the tier is marked untrusted until it is back.
MAX_PENDING = 10_000

#: Failures meaning "the tier is not answering" (replay waits and retries);
#: any other error refuses that one item (replay drops it).
_DOWN = (TierUnavailableError, TierTimeoutError)

_GUARDS: weakref.WeakSet[TierGuard] = weakref.WeakSet()


class TierGuard:
    """The error policy, breaker and invalidation replay of one remote tier."""

    def __init__(
        self,
        name: str,
        *,
        strict: bool,
        counters: Counters,
        timings: Timings | None = None,
        cooldown: float = 2.0,
        warn_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.strict = strict
        self._counters = counters
        self._timings = timings
        self._cooldown = cooldown
        self._warn_interval = warn_interval
        self._clock = clock
        self._open_until = 0.0
        self._last_warning = -float("inf")
        # Insertion-ordered and keyed by what the item removes: coalesced.
        self._pending: dict[Hashable, Callable[[], Any]] = {}
        self._lost = 0  # invalidations dropped past the limit (or unqueued)
        self._on_loss: list[Callable[[], None]] = []
        self._queue_lock = threading.Lock()
        self._replay_lock = threading.RLock()  # loss handlers may call back in
        self._replayer: threading.Thread | None = None
        self._stop = threading.Event()
        _GUARDS.add(self)

    @property
    def is_open(self) -> bool:
        """Whether the breaker currently skips the tier."""
        return self._clock() < self._open_until

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` (skipping the tier) or ``"half_open"``."""
        open_until = self._open_until
        if not open_until:
            return "closed"
        return "open" if self._clock() < open_until else "half_open"

    @property
    def pending(self) -> int:
        """How many invalidations wait for replay."""
        return len(self._pending)

    def on_loss(self, handler: Callable[[], None]) -> None:
        """Run ``handler`` once the tier is back after invalidations were lost.

        The handler may call the tier directly: a ``TierError`` it raises
        means the tier is still down, and it runs again at the next probe.
        """
        self._on_loss.append(handler)

    def call(self, func: Callable[..., R], *args: Any, default: R) -> R:
        """Run ``func(*args)`` under the policy; ``default`` when degraded."""
        if not self.strict:
            now = self._clock()
            if now < self._open_until:
                return default
            if self._open_until:
                # Half-open: this caller probes; others keep skipping meanwhile.
                self._open_until = now + self._cooldown
        timings = self._timings
        started = time.perf_counter()
        try:
            if self._pending or self._lost:
                self._replay()
            result = func(*args)
        except TierError as exc:
            if timings is not None:
                elapsed = time.perf_counter() - started
                timings.record(self.name, _op(func), elapsed, True)
            self._failed(exc)
            return default
        if timings is not None:
            elapsed = time.perf_counter() - started
            timings.record(self.name, _op(func), elapsed, False)
        if self._open_until:
            self._open_until = 0.0
            log.warning("hydracache_sync: tier %r is back", self.name)
        return result

    def invalidate(
        self, func: Callable[..., Any], *args: Any, key: Hashable | None
    ) -> int:
        """Run an invalidation; queue it for replay when the tier is down.

        Args:
            func: The tier call.
            *args: Its arguments.
            key: ``(scope, op, arg...)``, what the invalidation removes, e.g.
                ``("tier", "k", "user:1")``; queued items with the same key
                coalesce, and a clear (``op == "c"``) supersedes every item
                queued in its scope. ``None``: never queue a failure, only
                note it as lost (plain ``set`` notifications).
        """
        sentinel = -1
        result = self.call(func, *args, default=sentinel)
        if result == sentinel and not self.strict:
            self._queue(key, func, args)
            return 0
        return int(result)

    def _queue(
        self, key: Hashable | None, func: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        with self._queue_lock:
            if key is None:
                self._lost += 1
            elif key in self._pending:
                self._pending[key] = lambda: func(*args)
            elif len(self._pending) >= MAX_PENDING:
                self._lost += 1
                self._counters.add(DROPPED_INVALIDATIONS)
                if self._lost == 1:
                    log.warning(
                        "hydracache_sync: over %d invalidations queued for tier "
                        "%r; dropping more and marking it untrusted until it "
                        "is back",
                        MAX_PENDING,
                        self.name,
                    )
            else:
                if isinstance(key, tuple) and len(key) > 1 and key[1] == "c":
                    for queued in [k for k in self._pending if k[0] == key[0]]:  # type: ignore[index]
                        del self._pending[queued]
                self._pending[key] = lambda: func(*args)
            self._start_replayer()

    def _start_replayer(self) -> None:
        """Start the background replay thread unless it runs (queue lock held)."""
        thread = self._replayer
        if thread is not None and thread.is_alive():
            return
        if self._stop.is_set():
            return
        self._replayer = threading.Thread(
            target=self._replay_in_background,
            name=f"hydracache-replay-{self.name}",
            daemon=True,
        )
        self._replayer.start()

    def _replay_in_background(self) -> None:
        """Probe once per cool-down until the queue is delivered."""
        pause = max(self._cooldown, 0.05)
        while not self._stop.is_set() and (self._pending or self._lost):
            wait = self._open_until - self._clock()
            if wait > 0:
                self._stop.wait(min(wait, pause, 1.0))
                continue
            self._open_until = self._clock() + self._cooldown  # we probe
            try:
                self._replay()
            except TierError as exc:
                self._failed(exc)
                self._stop.wait(pause)
                continue
            if self._open_until:
                self._open_until = 0.0
                log.warning("hydracache_sync: tier %r is back", self.name)

    def _replay(self) -> None:
        """Deliver the queue in order; drop refused items; run the loss handlers.

        Raises:
            TierError: The tier is not answering (the rest stays queued).
        """
        with self._replay_lock:
            while self._pending:
                with self._queue_lock:
                    key = next(iter(self._pending), None)
                    item = self._pending.get(key) if key is not None else None
                if item is None:
                    break
                try:
                    item()
                except _DOWN:
                    raise
                except Exception as exc:
                    self._counters.add(DROPPED_INVALIDATIONS)
                    log.warning(
                        "hydracache_sync: dropped invalidation %r for tier %r, "
                        "which refused it: %s",
                        key,
                        self.name,
                        exc,
                    )
                with self._queue_lock:
                    if self._pending.get(key) is item:
                        del self._pending[key]
            if self._lost:
                with self._queue_lock:
                    lost, self._lost = self._lost, 0
                for handler in self._on_loss:
                    try:
                        handler()
                    except _DOWN:
                        with self._queue_lock:
                            self._lost += lost
                        raise
                    except Exception as exc:
                        log.warning(
                            "hydracache_sync: recovering tier %r: %s", self.name, exc
                        )
                log.warning(
                    "hydracache_sync: tier %r is back after %d invalidations "
                    "were lost; dropped local copies and bumped generations",
                    self.name,
                    lost,
                )

    def close(self) -> None:
        """Stop the replay thread; deliver what is queued, once, or log it lost."""
        self._stop.set()
        thread = self._replayer
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if not (self._pending or self._lost):
            return
        try:
            self._replay()
        except TierError as exc:
            left = len(self._pending)
            self._counters.add(DROPPED_INVALIDATIONS, left)
            log.warning(
                "hydracache_sync: closing with %d invalidations undelivered to "
                "tier %r (%s)",
                left,
                self.name,
                exc,
            )
            self._pending.clear()

    def after_fork(self) -> None:
        """Reset in a forked child: fresh locks, no replay thread, no queue.

        The parent still holds (and delivers) what was queued before the
        fork; the child's copy would only deliver it twice.
        """
        self._queue_lock = threading.Lock()
        self._replay_lock = threading.RLock()
        self._pending = {}
        self._lost = 0
        self._replayer = None

    def _failed(self, exc: TierError) -> None:
        self._counters.add(TIER_ERRORS)
        if self.strict:
            raise exc
        now = self._clock()
        self._open_until = now + self._cooldown
        if now - self._last_warning >= self._warn_interval:
            self._last_warning = now
            log.warning(
                "hydracache_sync: tier %r failed (%s); degrading to a miss and "
                "skipping it for %.1fs",
                self.name,
                exc,
                self._cooldown,
            )


def _after_fork_in_child() -> None:
    for guard in list(_GUARDS):
        guard.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _op(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__name__", "call"))
