"""What happens when a remote tier fails: count, warn (rate-limited), break, replay.

By default a failing tier degrades: the read is a miss, the write is skipped,
``tier_errors`` counts it, a warning is logged at most once per interval, and a
breaker skips the tier for a cool-down before letting one call probe it. An
invalidation that could not reach the tier is queued and replayed before the
tier serves again, so a value removed while the tier was down is not served
after it comes back. With ``strict`` every ``TierError`` propagates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from ._stats import TIER_ERRORS, Counters, Timings
from .errors import TierError

__all__ = ["TierGuard"]

log = logging.getLogger("hydracache_sync")
R = TypeVar("R")

#: Invalidations kept for replay; past this the tier is cleared on recovery.
MAX_PENDING = 10_000


class TierGuard:
    """The error policy and breaker of one remote tier."""

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
        self._pending: deque[Callable[[], Any]] = deque()
        self._overflowed = False
        self._clear: Callable[[], Any] | None = None
        self._replay_lock = threading.Lock()

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
            if self._pending or self._overflowed:
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
        self, func: Callable[..., Any], *args: Any, clear: Callable[[], Any]
    ) -> int:
        """Run an invalidation; queue it for replay when the tier is down."""
        self._clear = clear
        sentinel = -1
        result = self.call(func, *args, default=sentinel)
        if result == sentinel and not self.strict:
            self._queue(lambda: func(*args))
            return 0
        return int(result)

    def _queue(self, replay: Callable[[], Any]) -> None:
        with self._replay_lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.clear()
                self._overflowed = True
            elif not self._overflowed:
                self._pending.append(replay)

    def _replay(self) -> None:
        with self._replay_lock:
            if self._overflowed and self._clear is not None:
                self._clear()
                self._overflowed = False
                self._pending.clear()
            while self._pending:
                self._pending[0]()
                self._pending.popleft()

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


def _op(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__name__", "call"))
