"""The pieces both framework backends share: key mapping and signed pickles."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hydracache_sync._frameworks import (
    MAX_KEY,
    SignedPickleCodec,
    derive_key,
    framework_key,
)


@given(st.text(min_size=1, max_size=600))
def test_framework_keys_are_usable_and_distinct(key: str) -> None:
    """Every string maps to a printable key of bounded length; plain ones unchanged."""
    mapped = framework_key(key)
    assert mapped.isprintable()
    assert len(mapped) <= 64 + len("#sha256:") + 64 or mapped == key
    if key.isprintable() and len(key) <= MAX_KEY:
        assert key == mapped
    else:
        assert mapped != framework_key(key + "x")


def test_unsigned_and_foreign_bodies_are_refused() -> None:
    """Bare pickles, made-up MACs and unknown markers never reach pickle.loads."""
    codec = SignedPickleCodec([derive_key("k" * 20)])
    payload = pickle.dumps({"a": 1})
    for body in (payload, b"p" + payload, b"p" + b"\0" * 32 + payload, b"", b"x1"):
        with pytest.raises(ValueError):
            codec.decode(body)
    assert {"a": 1} == codec.decode(codec.encode({"a": 1}))
