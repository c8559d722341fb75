"""The wire envelope around an encoded value, as stored in remote tiers.

Layout (all integers big-endian)::

    magic   1 byte   0xC8
    version 1 byte   1
    flags   1 byte   NEGATIVE | GZIP | SIGNED | TRUSTED
    expires 8 bytes  float64 Unix time; 0.0 means never
    [mac    32 bytes HMAC-SHA256 when SIGNED]
    ntags   2 bytes, then per tag: 2-byte length + UTF-8
    body    the codec's bytes (gzip-compressed when GZIP); empty when NEGATIVE

The MAC covers the key, the header (flags and expiry included), the tags and
the body, so a signed envelope copied to another key, or with a flag flipped,
fails to verify. ``TRUSTED`` marks a negative entry rebuilt by a tier that
stores unsigned negatives natively (Postgres' ``is_none`` column); the cache
accepts it only from a tier that declares ``trusted = True`` and only without a
secret: with a secret every stored form, negatives included, must carry a MAC
that verifies. A negative never carries a body, and unknown flag bits are
refused. This module is stdlib only, so tiers may use it without importing the
codec.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Collection
from typing import NamedTuple

__all__ = [
    "F_GZIP",
    "F_NEGATIVE",
    "F_SIGNED",
    "F_TRUSTED",
    "CorruptEnvelope",
    "Unpacked",
    "is_negative",
    "is_signed",
    "pack",
    "trusted_negative",
    "unpack",
    "unpack_plain",
]

MAGIC = 0xC8
VERSION = 1
F_NEGATIVE = 1
F_GZIP = 2
F_SIGNED = 4
F_TRUSTED = 8
_KNOWN_FLAGS = F_NEGATIVE | F_GZIP | F_SIGNED | F_TRUSTED
_HEADER = struct.Struct(">BBBd")
_U16 = struct.Struct(">H")
_MAC_SIZE = 32
# The common envelope (version 1, no flags, no tags) starts with these bytes
# and has two zero bytes (no tags) right after the expiry: unpack() reads it
# without the general parse.
_PLAIN = bytes([MAGIC, VERSION, 0])
_EXPIRES = struct.Struct(">d")
_NO_TAGS: frozenset[str] = frozenset()


class CorruptEnvelope(ValueError):
    """Bytes found in a tier are not a valid envelope for this key."""


class Unpacked(NamedTuple):
    """The parts of a verified envelope."""

    body: bytes
    flags: int
    expires_at: float | None
    tags: frozenset[str]


def _pack_tags(tags: Collection[str]) -> bytes:
    parts = [_U16.pack(len(tags))]
    for tag in sorted(tags):
        raw = tag.encode("utf-8")
        parts.append(_U16.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def _mac(secret: bytes, key: str, *parts: bytes | memoryview) -> bytes:
    """HMAC-SHA256 over the key, a NUL, then ``parts`` (fed without copying)."""
    mac = hmac.new(secret, key.encode("utf-8") + b"\0", hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def pack(
    key: str,
    body: bytes,
    *,
    flags: int,
    expires_at: float | None,
    tags: Collection[str],
    secret: bytes | None = None,
) -> bytes:
    """Frame ``body`` for ``key``; sign it when ``secret`` is given."""
    flags &= ~(F_SIGNED | F_TRUSTED)
    if secret is not None:
        flags |= F_SIGNED
    header = _HEADER.pack(MAGIC, VERSION, flags, expires_at or 0.0)
    rest = _pack_tags(tags) + body
    if secret is None:
        return header + rest
    return header + _mac(secret, key, header, rest) + rest


def trusted_negative(expires_at: float | None, tags: Collection[str]) -> bytes:
    """Rebuild a negative envelope from a tier that stores negatives natively."""
    header = _HEADER.pack(MAGIC, VERSION, F_NEGATIVE | F_TRUSTED, expires_at or 0.0)
    return header + _pack_tags(tags)


def is_negative(data: bytes) -> bool:
    """Tell whether ``data`` frames a cached ``None`` (without verifying it)."""
    return len(data) >= _HEADER.size and data[0] == MAGIC and bool(data[2] & F_NEGATIVE)


def is_signed(data: bytes) -> bool:
    """Tell whether ``data`` claims a signature (without verifying it)."""
    return len(data) >= _HEADER.size and bool(data[2] & F_SIGNED)


def unpack_plain(data: bytes) -> tuple[float | None, bytes] | None:
    """Return ``(expires_at, body)`` of the common unsigned, flagless, tagless form.

    ``None`` for any other bytes (:func:`unpack` then verifies them). Only for
    a cache without a secret: the form carries no MAC. A plain tuple, not an
    :class:`Unpacked`, as this is the remote hit path.
    """
    if data[:3] == _PLAIN and data[11:13] == b"\0\0":
        return _EXPIRES.unpack_from(data, 3)[0] or None, data[13:]
    return None


def unpack(
    key: str, data: bytes, *, secret: bytes | None = None, trusted: bool = False
) -> Unpacked:
    """Verify and split an envelope.

    Args:
        key: The cache key the bytes were stored under.
        data: The stored bytes.
        secret: The HMAC secret; when set, every envelope must be signed with
            it (``TRUSTED`` negatives included: they are refused).
        trusted: Whether the tier may hand back ``TRUSTED`` negatives (only
            honoured without a secret).

    Raises:
        CorruptEnvelope: The bytes are foreign, truncated, of another version,
            carry unknown flags or a negative with a body, or their signature
            does not verify.
    """
    if secret is None and data[:3] == _PLAIN and data[11:13] == b"\0\0":
        # Unsigned, no flags, no tags: the body follows the 13-byte head.
        expires = _EXPIRES.unpack_from(data, 3)[0]
        return Unpacked(data[13:], 0, expires or None, _NO_TAGS)
    if len(data) < _HEADER.size:
        raise CorruptEnvelope("too short")
    magic, version, flags, expires = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise CorruptEnvelope("foreign bytes or unknown envelope version")
    if flags & ~_KNOWN_FLAGS:
        raise CorruptEnvelope("unknown flags")
    pos = _HEADER.size
    if flags & F_TRUSTED:
        if secret is not None:
            raise CorruptEnvelope("unsigned negative while a secret is configured")
        if not trusted or not flags & F_NEGATIVE or flags & F_SIGNED:
            raise CorruptEnvelope("trusted marker from an untrusted tier")
    elif flags & F_SIGNED:
        if secret is None:
            raise CorruptEnvelope("signed entry but no secret configured")
        mac = data[pos : pos + _MAC_SIZE]
        pos += _MAC_SIZE
        view = memoryview(data)
        expected = _mac(secret, key, view[: _HEADER.size], view[pos:])
        if not hmac.compare_digest(mac, expected):
            raise CorruptEnvelope("signature does not verify")
    elif secret is not None:
        raise CorruptEnvelope("unsigned entry while a secret is configured")
    try:
        (count,) = _U16.unpack_from(data, pos)
        pos += 2
        tags = []
        for _ in range(count):
            (size,) = _U16.unpack_from(data, pos)
            pos += 2
            if pos + size > len(data):
                raise CorruptEnvelope("truncated tag")
            tags.append(data[pos : pos + size].decode("utf-8"))
            pos += size
    except (struct.error, UnicodeDecodeError) as exc:
        raise CorruptEnvelope(f"bad tag block: {exc}") from exc
    if flags & F_NEGATIVE and pos != len(data):
        raise CorruptEnvelope("a negative entry carries a body")
    return Unpacked(data[pos:], flags, expires or None, frozenset(tags))
