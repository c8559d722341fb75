"""gzip framing: threshold, only-when-smaller, and hostile input."""

from __future__ import annotations

import gzip
import os
import tracemalloc

import pytest

from hydracache_sync._compress import THRESHOLD, decompress, maybe_compress


def test_small_or_incompressible_payloads_stay_plain() -> None:
    """At or under the threshold, or when gzip would not shrink it: None."""
    assert maybe_compress(b"x" * THRESHOLD) is None
    assert maybe_compress(os.urandom(4096)) is None


def test_round_trip() -> None:
    """Compressed payloads inflate back to the same bytes."""
    data = b"hello world " * 500
    packed = maybe_compress(data)
    assert packed is not None
    assert len(packed) < len(data)
    assert data == decompress(packed, len(data))


def test_bad_gzip_is_a_value_error() -> None:
    """Bytes that are not gzip raise ValueError (the cache counts a decode error)."""
    with pytest.raises(ValueError, match="bad gzip"):
        decompress(b"not gzip at all", 1000)


def test_gzip_bomb_is_refused() -> None:
    """Output past the limit is refused instead of filling memory."""
    bomb = gzip.compress(b"\0" * 10_000_000)
    with pytest.raises(ValueError, match="size limit"):
        decompress(bomb, limit=1_000_000)


def test_gzip_bomb_costs_about_the_limit() -> None:
    """Refusing a 200 MB bomb at a 1 MB limit peaks under 3 MB of memory."""
    bomb = gzip.compress(b"\0" * 200_000_000, compresslevel=9)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="size limit"):
            decompress(bomb, limit=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3_000_000, peak


def test_truncated_or_trailing_gzip_is_refused() -> None:
    """A cut member or bytes after it are a ValueError, not a partial value."""
    packed = gzip.compress(b"abc" * 1000)
    for bad in (packed[:-10], packed + b"junk", packed + packed):
        with pytest.raises(ValueError, match="bad gzip"):
            decompress(bad, 1_000_000)
