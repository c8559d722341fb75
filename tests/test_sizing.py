"""_sizing: memory estimates, the plain-value test, and memory-only writes."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hydracache_sync import CodecError, HydraCache
from hydracache_sync._codec import CborCodec
from hydracache_sync._sizing import measure, plain_size


def _deep(value: Any) -> int:
    """The reference: sys.getsizeof over every object, singletons free."""
    if value is None or isinstance(value, bool):
        return 0
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep(k) + _deep(v) for k, v in value.items())
    elif isinstance(value, list):
        size += sum(_deep(v) for v in value)
    return size


_PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.binary(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=8)
        | st.dictionaries(st.text(max_size=8), inner, max_size=8)
    ),
    max_leaves=40,
)


@dataclasses.dataclass
class Point:
    """A dataclass value (not plain: it goes through the codec)."""

    x: int
    y: list[int]


class TestPlainSize:
    @given(_PLAIN)
    def test_close_to_getsizeof(self, value: Any) -> None:
        """Plain values: within 0.7x-1.6x of a sys.getsizeof walk."""
        size = plain_size(value)
        reference = _deep(value)
        assert size >= 0
        assert 0.7 * reference <= size <= 1.6 * reference + 64

    @pytest.mark.parametrize(
        "value",
        [(1, 2), {1, 2}, frozenset(), Point(1, [2]), {(1, 2): 3}, [object()]],
    )
    def test_other_types_are_not_plain(self, value: Any) -> None:
        """Anything beyond str/bytes/int/float/bool/None/list/dict: -1."""
        assert -1 == plain_size(value)

    def test_deep_nesting_is_not_plain(self) -> None:
        """Over 32 levels the value goes through the codec."""
        value: Any = 1
        for _ in range(40):
            value = [value]
        assert -1 == plain_size(value)

    def test_measure_handles_cycles_and_dataclasses(self) -> None:
        """measure walks any value once, cycles included."""
        cyclic: list[Any] = [1]
        cyclic.append(cyclic)
        assert measure(cyclic) > 0
        assert measure(Point(1, [2, 3])) > sys.getsizeof([2, 3])


class TestMemoryOnlyWrites:
    def test_plain_values_are_not_encoded(self) -> None:
        """A memory-only set of a plain value never calls the codec."""
        cache = HydraCache.local()
        with mock.patch.object(CborCodec, "encode", side_effect=AssertionError):
            cache.set("k", {"a": [1, 2.5, "x", None, True, b"y"]})
        assert {"a": [1, 2.5, "x", None, True, b"y"]} == cache.get("k")

    def test_other_values_are_still_validated(self) -> None:
        """Non-plain values go through the codec: unencodable ones raise."""
        cache = HydraCache.local()
        cache.set("t", (1, "x"))
        assert (1, "x") == cache.get("t")
        with pytest.raises(CodecError):
            cache.set("bad", {"x": object()})
        assert None is cache.get("bad")

    def test_sizes_follow_memory_not_encoding(self) -> None:
        """A list of 1,000 small ints is charged ~40 KB, not its ~2 KB of CBOR."""
        cache = HydraCache.local()
        cache.set("ints", list(range(1_000)))
        assert cache.local_store.size > 30_000
