"""Per-key in-process leader election over ``concurrent.futures.Future``.

Knows nothing about caches: a caller asks to ``join`` a key; the first becomes
the leader and must ``finish`` its flight; the others wait on its future. An
invalidation ``detach``es flights so later callers start fresh ones, and marks
them stale so their result is handed to existing waiters but not stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from typing import Any

__all__ = ["Flight", "SingleFlight"]


class Flight:
    """One in-progress load of one key."""

    __slots__ = ("future", "key", "stale", "tags", "writing")

    def __init__(self, key: str, tags: Collection[str]) -> None:
        self.key = key
        self.tags = tags
        self.future: Future[Any] = Future()
        self.stale = False
        #: Set while the leader writes remote tiers (outside the lock).
        self.writing = False


class SingleFlight:
    """The table of in-progress loads, guarded by the cache's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._flights: dict[str, Flight] = {}

    def join(self, key: str, tags: Collection[str]) -> tuple[Flight, bool]:
        """Return the key's flight and whether the caller leads it."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight(key, tags)
            return flight, True

    def finish(self, flight: Flight) -> None:
        """Remove ``flight`` from the table if it is still the key's flight."""
        with self._lock:
            if self._flights.get(flight.key) is flight:
                del self._flights[flight.key]

    def detach(self, match: Callable[[Flight], bool]) -> list[Flight]:
        """Mark stale and remove every flight ``match`` accepts; return them.

        Call with the lock held, in the same critical section as the
        invalidation of the stored entries.
        """
        doomed = [flight for flight in self._flights.values() if match(flight)]
        for flight in doomed:
            flight.stale = True
            del self._flights[flight.key]
        return doomed

    def detach_key(self, key: str) -> Flight | None:
        """Mark stale and remove the flight of one key, if any; return it."""
        flight = self._flights.pop(key, None)
        if flight is not None:
            flight.stale = True
        return flight

    def after_fork(self) -> None:
        """In a forked child: forget the parent's loads (their threads are gone)."""
        self._flights = {}

    def __len__(self) -> int:
        return len(self._flights)
