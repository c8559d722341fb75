"""A hypothesis state machine: HydraCache on the memory default against a dict model.

Random sequences of set / get_or_load / delete / invalidate_tag / invalidate /
clear / clock ticks must leave the cache answering exactly like the model.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hydracache_sync import HydraCache
from hydracache_sync.testing import FakeClock
from hydracache_sync.tiers.base import wildcard_regex

KEYS = ["a", "b", "ns:a", "ns:b", "ns:x:1", "x[1]", "y_%", "z\\*"]
PATTERNS = ["ns:*", "*", "a", "x[1]", "y_*", "*b", "ns:x:*", "z\\*", "?"]
MISSING = object()


class CacheAgainstModel(RuleBasedStateMachine):
    """Each rule acts on both; the invariant compares every key."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.cache = HydraCache.local(timer=self.clock)
        # key -> (value, deadline or None, tags)
        self.model: dict[str, tuple[Any, float | None, frozenset[str]]] = {}

    def _live(self, key: str) -> bool:
        item = self.model.get(key)
        return item is not None and (item[1] is None or item[1] > self.clock.now)

    @rule(
        key=st.sampled_from(KEYS),
        value=st.none() | st.integers() | st.text(max_size=4),
        ttl=st.none() | st.integers(min_value=1, max_value=10),
        tags=st.frozensets(st.sampled_from(["t1", "t2"]), max_size=2),
    )
    def set(self, key: str, value: Any, ttl: int | None, tags: frozenset[str]) -> None:
        self.cache.set(key, value, ttl=ttl, tags=tags)
        deadline = None if ttl is None else self.clock.now + ttl
        self.model[key] = (value, deadline, tags)

    @rule(key=st.sampled_from(KEYS), value=st.integers())
    def get_or_load(self, key: str, value: int) -> None:
        got = self.cache.get_or_load(key, lambda: value, ttl=5)
        if self._live(key):
            assert self.model[key][0] == got
        else:
            assert value == got
            self.model[key] = (value, self.clock.now + 5, frozenset())

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        assert self._live(key) == self.cache.delete(key)
        self.model.pop(key, None)

    @rule(tag=st.sampled_from(["t1", "t2"]))
    def invalidate_tag(self, tag: str) -> None:
        self.cache.invalidate_tag(tag)
        for key in [k for k, item in self.model.items() if tag in item[2]]:
            del self.model[key]

    @rule(pattern=st.sampled_from(PATTERNS))
    def invalidate(self, pattern: str) -> None:
        self.cache.invalidate(pattern)
        regex = wildcard_regex(pattern)
        for key in [k for k in self.model if regex.fullmatch(k)]:
            del self.model[key]

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.clear()

    @rule(seconds=st.integers(min_value=0, max_value=6))
    def tick(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def answers_like_the_model(self) -> None:
        for key in KEYS:
            expected = self.model[key][0] if self._live(key) else MISSING
            assert expected == self.cache.get(key, MISSING), key
            assert self._live(key) == (key in self.cache), key


CacheAgainstModel.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None
)
TestCacheAgainstModel = CacheAgainstModel.TestCase
