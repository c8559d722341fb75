"""gzip framing: threshold, only-when-smaller, and hostile input."""

from __future__ import annotations

import gzip
import os

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
    assert data == decompress(packed)


def test_bad_gzip_is_a_value_error() -> None:
    """Bytes that are not gzip raise ValueError (the cache counts a decode error)."""
    with pytest.raises(ValueError, match="bad gzip"):
        decompress(b"not gzip at all")


def test_gzip_bomb_is_refused() -> None:
    """Output past the limit is refused instead of filling memory."""
    bomb = gzip.compress(b"\0" * 10_000_000)
    with pytest.raises(ValueError, match="size limit"):
        decompress(bomb, limit=1_000_000)
