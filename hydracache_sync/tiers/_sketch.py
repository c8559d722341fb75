"""A count-min sketch of 4-bit counters: how often each key was seen lately.

The local tier's admission policy (W-TinyLFU, see ``_policy.py``) asks it one
question: is the newcomer more popular than the entry it would displace? Four
counters per key, each in its own row and picked by a different slice of the
key's hash; the estimate is the smallest of them, so collisions only ever
overcount. Counters stop at 15, and all of them are halved once the sketch has
counted ten times its width (TinyLFU's "reset"), so the history fades and a
formerly hot key does not stay admitted forever.

A *doorkeeper* (a Bloom filter with two probes, cleared at each halving)
stands in front of the counters: a key's first sighting only sets its bits,
and the counters see it from the second one on, so the many keys seen once
do not crowd the counters of those seen again (TinyLFU, section 3.4.2). Its
bit counts as one more sighting in the estimate. Measured on the hit-ratio
traces, it is worth up to a point of hit ratio.

One bytearray holds the four rows; halving is one ``bytes.translate`` (C speed).
It costs a byte per counter and per doorkeeper slot: ``12 * width`` bytes, with
``width`` the power of two at or above the number of entries the cache holds
(it grows with it).
"""

from __future__ import annotations

__all__ = ["FrequencySketch"]

_MASK64 = (1 << 64) - 1
_SPREAD = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads Python's str hash
_SPREAD2 = 0xBF58476D1CE4E5B9
_MAX = 15
_HALF = bytes(n >> 1 for n in range(256))
_MIN_WIDTH = 64


class FrequencySketch:
    """Approximate recent access counts for hashed keys (not thread-safe).

    The owner calls it under its write lock only.
    """

    __slots__ = (
        "_door",
        "_door_mask",
        "_mask",
        "_sample_size",
        "_samples",
        "_table",
        "_width",
        "generation",
    )

    def __init__(self, capacity: int = _MIN_WIDTH) -> None:
        self._width = 0
        self._mask = 0
        self._table = bytearray()
        self._door = bytearray()
        self._door_mask = 0
        self.generation = 0  # bumped whenever the counts change wholesale
        self._samples = 0
        self._sample_size = 0
        self.ensure_capacity(capacity)

    @property
    def width(self) -> int:
        """The counters per row."""
        return self._width

    def ensure_capacity(self, capacity: int) -> None:
        """Grow to at least ``capacity`` counters per row (the counts restart)."""
        width = _MIN_WIDTH
        while width < capacity:
            width <<= 1
        if width <= self._width:
            return
        self._width = width
        self._mask = width - 1
        self._table = bytearray(4 * width)
        self._door = bytearray(8 * width)
        self._door_mask = 8 * width - 1
        self._samples = 0
        self._sample_size = 10 * width
        self.generation += 1

    def increment(self, key_hash: int) -> int:
        """Count one more sighting of the key with ``key_hash``; return its estimate."""
        self._samples += 1
        if self._samples >= self._sample_size:
            self._age()
        door, door_mask = self._door, self._door_mask
        a = (key_hash * _SPREAD2) & _MASK64
        first, second = a & door_mask, (a >> 32) & door_mask
        a = (key_hash * _SPREAD) & _MASK64
        mask, width, table = self._mask, self._width, self._table
        if not (door[first] and door[second]):
            # First sighting since the last halving: the doorkeeper only (the
            # counters may still hold what the key earned before it).
            door[first] = door[second] = 1
            return 1 + min(
                table[a & mask],
                table[width + ((a >> 21) & mask)],
                table[2 * width + ((a >> 42) & mask)],
                table[3 * width + ((((a ^ (a >> 31)) * _SPREAD2) >> 40) & mask)],
            )
        # Unrolled: this runs on every write.
        index = a & mask
        least = count = table[index]
        if count < _MAX:
            table[index] = count + 1
        index = width + ((a >> 21) & mask)
        count = table[index]
        if count < _MAX:
            table[index] = count + 1
        if count < least:
            least = count
        index = 2 * width + ((a >> 42) & mask)
        count = table[index]
        if count < _MAX:
            table[index] = count + 1
        if count < least:
            least = count
        index = 3 * width + ((((a ^ (a >> 31)) * _SPREAD2) >> 40) & mask)
        count = table[index]
        if count < _MAX:
            table[index] = count + 1
        if count < least:
            least = count
        return 2 + least if least < _MAX else 1 + _MAX

    def frequency(self, key_hash: int) -> int:
        """Return the estimated recent count (0-16) of the key with ``key_hash``."""
        door, door_mask = self._door, self._door_mask
        a = (key_hash * _SPREAD2) & _MASK64
        seen = 1 if door[a & door_mask] and door[(a >> 32) & door_mask] else 0
        a = (key_hash * _SPREAD) & _MASK64
        mask, width, table = self._mask, self._width, self._table
        first = table[a & mask]
        second = table[width + ((a >> 21) & mask)]
        third = table[2 * width + ((a >> 42) & mask)]
        fourth = table[3 * width + ((((a ^ (a >> 31)) * _SPREAD2) >> 40) & mask)]
        if second < first:
            first = second
        if third < first:
            first = third
        return seen + (fourth if fourth < first else first)

    def _age(self) -> None:
        """Halve every counter: recent sightings weigh more than old ones."""
        self._table = bytearray(self._table.translate(_HALF))
        self._door = bytearray(len(self._door))
        self._samples //= 2
        self.generation += 1

    def clear(self) -> None:
        """Forget every count."""
        self._table = bytearray(4 * self._width)
        self._door = bytearray(8 * self._width)
        self._samples = 0
        self.generation += 1
