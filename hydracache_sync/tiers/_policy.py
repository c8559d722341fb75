"""The local tier's eviction policy: W-TinyLFU over CLOCK queues, weighted by bytes.

The design is Caffeine's (Einziger, Friedman and Manes, "TinyLFU: A Highly
Efficient Cache Admission Policy", 2017), as theine and Moka follow it: new
entries enter a small *window* (1 % of the budget); what leaves the window is
a *candidate* for the main space, where a *probation* queue holds entries seen
once and a *protected* queue (80 % of the main space) those read again. When
space runs out, the candidate competes with the probation queue's oldest
entry (the *victim*) and the one a frequency sketch has seen less often lately
is evicted; ties keep the incumbent. That filter is what keeps a loop slightly
larger than the cache, or a one-time scan, from flushing the popular entries.

One change makes it fit a lock-free hit path: a hit does not reorder anything,
it only sets the entry's ``visited`` mark. The queues are therefore CLOCK
queues (second-chance FIFOs) instead of LRU lists, and the mark is read, and
cleared, where the policy looks at an entry under the write lock: a visited
window entry gets a second turn in the window, a visited probation entry is
promoted to protected, a visited protected entry goes round again; each time
the sketch is credited with one more sighting. The sketch also counts every
write (a miss that was filled, or a ``set``).

Everything here runs under the owning store's write lock.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from ._sketch import FrequencySketch

__all__ = ["PROBATION", "PROTECTED", "WINDOW", "Policy", "PolicyEntry"]

WINDOW, PROBATION, PROTECTED = 0, 1, 2
# A warm candidate (6 or more) that does not beat its victim still wins one time
# in 128: Caffeine's defence against an attacker who makes a victim look hot
# with hash collisions.
_HASHDOS_THRESHOLD = 6


class PolicyEntry(Protocol):
    """What the policy reads and marks on an entry."""

    key: str
    size: int
    visited: bool
    queue: int
    freq: int


E = TypeVar("E", bound=PolicyEntry)


class Policy(Generic[E]):
    """W-TinyLFU admission and eviction over byte-weighted CLOCK queues.

    Args:
        max_bytes: The budget the entries' sizes must stay within.
        window: The admission window's share of the budget.
        protected: The protected queue's share of the main space.
    """

    def __init__(
        self, max_bytes: int, *, window: float = 0.01, protected: float = 0.8
    ) -> None:
        self.max_bytes = max_bytes
        self._window_max = max(1, int(max_bytes * window))
        self._protected_max = int((max_bytes - self._window_max) * protected)
        self._window: OrderedDict[str, E] = OrderedDict()
        self._probation: OrderedDict[str, E] = OrderedDict()
        self._protected: OrderedDict[str, E] = OrderedDict()
        self._queues = (self._window, self._probation, self._protected)
        self._weight = 0  # every queue's bytes
        self._window_bytes = 0
        self._protected_bytes = 0
        self.sketch = FrequencySketch()
        self._sketch_width = self.sketch.width
        self._count = 0
        # The last victim's frequency: a run of newcomers usually loses, one
        # after the other, against the same victim.
        self._victim: E | None = None
        self._victim_freq = 0
        self._victim_generation = -1

    @property
    def weight(self) -> int:
        """The bytes held in all queues."""
        return self._weight

    def queue_sizes(self) -> tuple[int, int, int]:
        """Return the entry counts of the window, probation and protected queues."""
        return (len(self._window), len(self._probation), len(self._protected))

    def queue_bytes(self) -> tuple[int, int, int]:
        """Return the bytes held by the window, probation and protected queues."""
        probation = self._weight - self._window_bytes - self._protected_bytes
        return (self._window_bytes, probation, self._protected_bytes)

    # -- membership ------------------------------------------------------------

    def add(self, entry: E) -> Sequence[E]:
        """Take a new entry into the window; evict what no longer fits.

        Counts a sighting of its key. Returns the evicted entries (already out
        of the queues); never the new one.
        """
        self._count += 1
        sketch = self.sketch
        if self._count > self._sketch_width:
            sketch.ensure_capacity(self._count)
            self._sketch_width = sketch.width
        key = entry.key
        entry.freq = sketch.increment(hash(key))
        entry.queue = WINDOW
        self._window[key] = entry
        size = entry.size
        self._window_bytes += size
        self._weight += size
        if self._window_bytes <= self._window_max and self._weight <= self.max_bytes:
            return ()
        return self.evict(entry)

    def remove(self, entry: E) -> None:
        """Forget ``entry`` (deleted, invalidated or expired)."""
        queue = entry.queue
        del self._queues[queue][entry.key]
        self._weight -= entry.size
        if queue == WINDOW:
            self._window_bytes -= entry.size
        elif queue == PROTECTED:
            self._protected_bytes -= entry.size
        self._count -= 1

    def clear(self) -> None:
        """Forget every entry (the sketch keeps its counts)."""
        for entries in self._queues:
            entries.clear()
        self._weight = self._window_bytes = self._protected_bytes = 0
        self._count = 0
        self._victim = None

    # -- eviction ------------------------------------------------------------------

    def evict(self, newest: E | None = None) -> Sequence[E]:
        """Evict until the entries fit the budget; return what was evicted.

        ``newest`` (the entry just added) is never evicted by its own write:
        the window keeps it even when a read entry's second turn puts it
        first. Written out in one function on the usual path (helper calls
        cost): it runs on most writes of a full cache.
        """
        window, probation = self._window, self._probation
        sketch = self.sketch
        max_bytes = self.max_bytes
        evicted: list[E] = []
        chances = len(window)
        # What overflows the window is a candidate for probation: it gets in
        # if there is room, or if it was seen more often than each victim it
        # displaces.
        while self._window_bytes > self._window_max and len(window) > 1:
            key, candidate = window.popitem(last=False)
            if candidate is newest:  # everything older had a second turn
                window[key] = candidate
                window.move_to_end(key, last=False)
                break
            if candidate.visited and chances > 0:
                chances -= 1
                candidate.visited = False
                candidate.freq = sketch.increment(hash(key))
                window[key] = candidate  # a second turn in the window
                continue
            size = candidate.size
            self._window_bytes -= size
            admitted = True
            while self._weight > max_bytes:
                victim = next(iter(probation.values()), None)
                if victim is None or victim.visited:
                    victim = self._next_victim()
                    if victim is None:
                        break
                if victim is not self._victim or (
                    self._victim_generation != sketch.generation
                ):
                    self._victim = victim
                    self._victim_freq = sketch.frequency(hash(victim.key))
                    self._victim_generation = sketch.generation
                freq = candidate.freq
                if freq > self._victim_freq or (
                    freq >= _HASHDOS_THRESHOLD and random.random() < 1 / 128
                ):
                    self.remove(victim)
                    evicted.append(victim)
                else:
                    admitted = False
                    break
            if admitted:
                candidate.queue = PROBATION
                probation[key] = candidate
            else:
                self._weight -= size
                self._count -= 1
                evicted.append(candidate)
        while self._weight > max_bytes:
            victim = self._next_victim()
            if victim is None:
                break
            self.remove(victim)
            evicted.append(victim)
        while self._weight > max_bytes and len(window) > 1:
            entry = next(iter(window.values()))
            if entry is newest:
                entry = list(window.values())[1]
            self.remove(entry)
            evicted.append(entry)
        if self._protected_bytes > self._protected_max:
            self._balance_protected()
        return evicted

    def _next_victim(self) -> E | None:
        """Return the main space's eviction victim, promoting read entries.

        Probation's oldest entry not read since it was last looked at (the
        read ones move to protected on the way), else protected's.
        """
        probation = self._probation
        while probation:
            entry = next(iter(probation.values()))
            if not entry.visited:
                return entry
            entry.visited = False
            key = entry.key
            entry.freq = self.sketch.increment(hash(key))
            del probation[key]
            entry.queue = PROTECTED
            self._protected[key] = entry
            self._protected_bytes += entry.size
        protected = self._protected
        chances = len(protected)
        while protected:
            entry = next(iter(protected.values()))
            if entry.visited and chances > 0:
                chances -= 1
                entry.visited = False
                entry.freq = self.sketch.increment(hash(entry.key))
                protected.move_to_end(entry.key)
                continue
            return entry
        return None

    def _balance_protected(self) -> None:
        """Demote protected entries to probation while protected is over its share."""
        protected = self._protected
        chances = len(protected)
        while self._protected_bytes > self._protected_max and protected:
            key, entry = protected.popitem(last=False)
            if entry.visited and chances > 0:
                chances -= 1
                entry.visited = False
                entry.freq = self.sketch.increment(hash(key))
                protected[key] = entry
                continue
            self._protected_bytes -= entry.size
            entry.queue = PROBATION
            self._probation[key] = entry
