"""The envelope: every stored form is covered by the MAC when a secret is set."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hydracache_sync._envelope import (
    F_GZIP,
    F_NEGATIVE,
    F_SIGNED,
    F_TRUSTED,
    CorruptEnvelope,
    Unpacked,
    is_signed,
    pack,
    trusted_negative,
    unpack,
    unpack_plain,
)

SECRET = b"0123456789abcdef-secret"


def test_trusted_negative_is_refused_when_a_secret_is_set() -> None:
    """A rebuilt negative from a trusted tier carries no MAC: refused with a secret."""
    data = trusted_negative(None, ["t"])
    assert unpack("k", data, trusted=True).flags & F_NEGATIVE
    with pytest.raises(CorruptEnvelope, match="secret"):
        unpack("k", data, secret=SECRET, trusted=True)


def test_trusted_flag_on_a_signed_envelope_is_refused() -> None:
    """Setting TRUSTED on a signed envelope (to skip its MAC) is refused."""
    signed = pack("k", b"", flags=F_NEGATIVE, expires_at=None, tags=(), secret=SECRET)
    data = bytearray(signed)
    data[2] |= F_TRUSTED
    for secret in (None, SECRET):
        with pytest.raises(CorruptEnvelope):
            unpack("k", bytes(data), secret=secret, trusted=True)


def test_signed_negative_round_trip_and_flag_flip() -> None:
    """A signed negative verifies; flipping its NEGATIVE flag breaks the MAC."""
    data = pack("k", b"", flags=F_NEGATIVE, expires_at=None, tags=("a",), secret=SECRET)
    assert is_signed(data)
    found = unpack("k", data, secret=SECRET)
    assert (b"", frozenset({"a"})) == (found.body, found.tags)
    assert F_NEGATIVE & found.flags
    positive = pack("k", b"\x01", flags=0, expires_at=None, tags=(), secret=SECRET)
    flipped = bytearray(positive)
    flipped[2] |= F_NEGATIVE
    with pytest.raises(CorruptEnvelope):
        unpack("k", bytes(flipped), secret=SECRET)


def test_negative_with_a_body_is_refused() -> None:
    """An entry flagged negative that carries a body is corrupt, signed or not."""
    for secret in (None, SECRET):
        data = pack(
            "k", b"\x01", flags=F_NEGATIVE, expires_at=None, tags=(), secret=secret
        )
        with pytest.raises(CorruptEnvelope, match="body"):
            unpack("k", data, secret=secret)


def test_unknown_flags_are_refused() -> None:
    """Flag bits this version does not know are refused."""
    data = bytearray(pack("k", b"\x01", flags=0, expires_at=None, tags=()))
    data[2] |= 0x80
    with pytest.raises(CorruptEnvelope, match="flags"):
        unpack("k", bytes(data))


@given(
    body=st.binary(max_size=64),
    flags=st.sampled_from([0, F_GZIP, F_NEGATIVE]),
    tags=st.lists(st.text(max_size=8), max_size=3),
    flip=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_bit_flip_of_a_signed_envelope_is_refused(
    body: bytes, flags: int, tags: list[str], flip: int, bit: int
) -> None:
    """With a secret, no single flipped bit anywhere yields an accepted envelope."""
    if flags & F_NEGATIVE:
        body = b""
    data = bytearray(
        pack("k", body, flags=flags, expires_at=None, tags=tags, secret=SECRET)
    )
    assert F_SIGNED & data[2]
    data[flip % len(data)] ^= 1 << bit
    with pytest.raises(CorruptEnvelope):
        unpack("k", bytes(data), secret=SECRET, trusted=True)


class TestPlainShortcut:
    @given(
        body=st.binary(max_size=64),
        expires=st.one_of(st.none(), st.floats(1.0, 4e9)),
    )
    def test_plain_envelopes_round_trip(
        self, body: bytes, expires: float | None
    ) -> None:
        """Unsigned, flagless, tagless envelopes (the shortcut) unpack exactly."""
        data = pack("k", body, flags=0, expires_at=expires, tags=())
        assert Unpacked(body, 0, expires, frozenset()) == unpack("k", data)

    def test_shortcut_needs_no_secret_and_no_tags(self) -> None:
        """With a secret or with tags, the general parse (and its checks) runs."""
        plain = pack("k", b"body", flags=0, expires_at=None, tags=())
        with pytest.raises(CorruptEnvelope, match="unsigned entry"):
            unpack("k", plain, secret=b"s" * 16)
        tagged = pack("k", b"body", flags=0, expires_at=None, tags=("t",))
        assert frozenset({"t"}) == unpack("k", tagged).tags
        with pytest.raises(CorruptEnvelope, match="tag"):
            unpack("k", tagged[:14])


@given(
    body=st.binary(max_size=64),
    expires_at=st.one_of(st.none(), st.floats(min_value=1.0, max_value=4e9)),
)
def test_unpack_plain_agrees_with_unpack(body: bytes, expires_at: float | None) -> None:
    """The remote hit's shortcut reads the common form exactly as unpack does."""
    data = pack("k", body, flags=0, expires_at=expires_at, tags=())
    full = unpack("k", data)
    assert (full.expires_at, full.body) == unpack_plain(data)


@given(data=st.binary(max_size=40))
def test_unpack_plain_takes_only_the_common_form(data: bytes) -> None:
    """Any other bytes (flags, tags, signed, short, foreign) are left to unpack."""
    plain = unpack_plain(data)
    if plain is not None:
        full = unpack("k", data)
        assert (0, frozenset()) == (full.flags, full.tags)
        assert (full.expires_at, full.body) == plain


def test_unpack_plain_refuses_flags_tags_and_signatures() -> None:
    """Negative, tagged and signed envelopes never take the shortcut."""
    forms = [
        pack("k", b"", flags=F_NEGATIVE, expires_at=None, tags=()),
        pack("k", b"\x01", flags=0, expires_at=None, tags=("t",)),
        pack("k", b"\x01", flags=F_GZIP, expires_at=None, tags=()),
        pack("k", b"\x01", flags=0, expires_at=None, tags=(), secret=SECRET),
        b"\xc8\x01\x00",
    ]
    assert [None] * len(forms) == [unpack_plain(data) for data in forms]
