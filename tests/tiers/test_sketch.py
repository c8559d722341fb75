"""FrequencySketch: doorkeeper, saturation, aging and growth."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hydracache_sync.tiers._sketch import FrequencySketch


class TestFrequencySketch:
    def test_unseen_then_doorkeeper_then_counters(self) -> None:
        """0 unseen; 1 after the first sighting (the doorkeeper); then counted."""
        sketch = FrequencySketch(1024)
        key = hash("k")
        assert 0 == sketch.frequency(key)
        assert 1 == sketch.increment(key)
        assert 1 == sketch.frequency(key)
        assert 2 == sketch.increment(key)
        assert 3 == sketch.increment(key)
        assert 3 == sketch.frequency(key)

    def test_saturates_at_sixteen(self) -> None:
        """Counters stop at 15 (plus the doorkeeper's one)."""
        sketch = FrequencySketch(1024)
        for _ in range(40):
            sketch.increment(hash("hot"))
        assert 16 == sketch.frequency(hash("hot"))

    def test_aging_halves_and_clears_the_doorkeeper(self) -> None:
        """After 10 x width sightings every count is halved, the doorkeeper reset."""
        sketch = FrequencySketch(64)
        for _ in range(9):
            sketch.increment(hash("hot"))
        before = sketch.frequency(hash("hot"))
        generation = sketch.generation
        for _ in range(10 * sketch.width):  # one other key: no collisions to speak of
            sketch.increment(hash("other"))
        assert generation < sketch.generation
        # The counters are halved; the doorkeeper's bit is gone until seen again.
        assert (before - 1) // 2 == sketch.frequency(hash("hot"))

    def test_grows_with_capacity(self) -> None:
        """ensure_capacity rounds up to a power of two and never shrinks."""
        sketch = FrequencySketch(100)
        assert 128 == sketch.width
        sketch.ensure_capacity(50)
        assert 128 == sketch.width
        sketch.ensure_capacity(1000)
        assert 1024 == sketch.width

    @given(st.lists(st.integers(0, 200), min_size=1, max_size=300))
    def test_never_undercounts_before_aging(self, keys: list[int]) -> None:
        """An estimate is at least the true count (capped), while nothing aged."""
        sketch = FrequencySketch(4096)
        counts: dict[int, int] = {}
        for key in keys:
            sketch.increment(hash(key))
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            assert min(count, 16) <= sketch.frequency(hash(key))
