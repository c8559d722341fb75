"""Values <-> the bytes remote tiers hold: codec, then gzip, then the envelope.

The cache encodes once at ``set`` and sends the same bytes to every remote
tier; a memory-only write of a plain value (``_sizing.plain_size``) with the
default codec is not encoded at all, since no byte of it leaves the process
and the codec would take it. The local tier is charged the value's estimated
memory, not its encoded length; reading undoes
the three steps and turns anything foreign, corrupt, expired or unsigned into a
miss that is counted, never an exception.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from ._codec import CborCodec, Codec
from ._compress import decompress, maybe_compress
from ._envelope import (
    F_GZIP,
    F_NEGATIVE,
    CorruptEnvelope,
    pack,
    unpack,
    unpack_plain,
)
from ._options import Resolved
from ._sizing import measure, plain_size
from ._stats import DECODE_ERRORS, Counters
from .errors import ConfigError
from .tiers.base import NativeNegative, Stored

__all__ = ["MIN_SECRET", "Found", "Framing", "check_secret"]

_NO_TAGS: frozenset[str] = frozenset()

#: The shortest HMAC secret accepted, in bytes (UTF-8 for a ``str``).
MIN_SECRET = 16


def check_secret(secret: object) -> bytes | None:
    """Return ``secret`` as bytes (``None`` stays ``None``), or raise ConfigError.

    Raises:
        ConfigError: Not ``str``/``bytes``, or shorter than :data:`MIN_SECRET`
            bytes (the empty secret included).
    """
    if secret is None:
        return None
    if isinstance(secret, str):
        raw = secret.encode("utf-8")
    elif isinstance(secret, (bytes, bytearray)):
        raw = bytes(secret)
    else:
        raise ConfigError(f"secret must be str or bytes, not {type(secret).__name__}")
    if len(raw) < MIN_SECRET:
        raise ConfigError(
            f"secret of {len(raw)} bytes is too short: use at least {MIN_SECRET} "
            "random bytes (e.g. secrets.token_hex(32))"
        )
    return raw


class Found(NamedTuple):
    """A value read from a remote tier, with what promotion needs."""

    value: Any
    expires_at: float | None  # wall-clock
    tags: frozenset[str]
    data: bytes  # the envelope, as it may be copied into faster tiers
    position: int  # the tier's position (1: the first remote tier)


# Builds a Found from a tuple in C: NamedTuple's own __new__ is a Python call
# (0.6 us here, a fifth of a decode).
_found = functools.partial(tuple.__new__, Found)


class Framing:
    """Frames values for one cache (its codec, secret, gzip level and clock).

    ``clock`` is the wall clock (Unix seconds) that envelope expiry is written
    with and checked against; tests inject a ``testing.FakeClock``.
    """

    def __init__(
        self,
        codec: Codec,
        counters: Counters,
        *,
        secret: bytes | None,
        compress_level: int,
        max_decompressed: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self.clock = clock
        # Only the default codec's rules are known here: any other codec
        # validates every value by encoding it.
        self._plain_ok = type(codec) is CborCodec
        self._counters = counters
        self._secret = secret
        self._level = compress_level
        self._max_decompressed = max_decompressed

    def encode(
        self, key: str, value: Any, opts: Resolved, *, envelope: bool
    ) -> tuple[int, bytes | None]:
        """Return the estimated memory of ``value`` and, if asked, its envelope.

        Raises:
            CodecError: ``value`` cannot be encoded.
        """
        if value is None:
            body, flags = b"", F_NEGATIVE
            size = 0
        else:
            size = plain_size(value)
            if not envelope and size >= 0 and self._plain_ok:
                return size, None
            body, flags = self.codec.encode(value), 0
            if size < 0:
                size = measure(value)
        if not envelope:
            return size, None
        # A body over the decompression bound is stored plain: readers with
        # the same bound could not inflate it.
        if (
            opts.compress
            and len(body) <= self._max_decompressed
            and (packed := maybe_compress(body, self._level))
        ):
            body, flags = packed, flags | F_GZIP
        ttl = opts.entry_ttl(value)
        expires_at = None if ttl is None else self.clock() + ttl
        data = pack(
            key,
            body,
            flags=flags,
            expires_at=expires_at,
            tags=opts.tags,
            secret=self._secret,
        )
        return size, data

    @property
    def stores_plain_unencoded(self) -> bool:
        """Whether a plain value (``_sizing.plain_size``) is valid without encoding."""
        return self._plain_ok

    def native_negative(self, value: Any) -> bool:
        """Tell whether a tier may keep ``value`` as a flag (``negative=True``).

        True for a cached ``None`` without a secret: its envelope then carries
        nothing the flag cannot (no MAC). With a secret every stored form keeps
        its signed bytes.
        """
        return value is None and self._secret is None

    def decode(
        self, key: str, data: Stored, *, trusted: bool, position: int
    ) -> Found | None:
        """Return the value in ``data``, or None (counted when the bytes are bad)."""
        if isinstance(data, NativeNegative):
            return self._native_negative(key, data, trusted, position)
        plain = None if self._secret is not None else unpack_plain(data)
        if plain is not None:  # the common form: one slice, no flags to read
            expires_at, body = plain
            if expires_at is not None and expires_at <= self.clock():
                return None
            try:
                value = self.codec.decode(body)
            except ValueError:
                self._counters.add(DECODE_ERRORS)
                return None
            return _found((value, expires_at, _NO_TAGS, data, position))
        try:
            body, flags, expires_at, tags = unpack(key, data, secret=self._secret)
            if expires_at is not None and expires_at <= self.clock():
                return None
            if flags & F_NEGATIVE:
                return _found((None, expires_at, tags, data, position))
            if flags & F_GZIP:
                body = decompress(body, self._max_decompressed)
            value = self.codec.decode(body)
        except (CorruptEnvelope, ValueError):
            self._counters.add(DECODE_ERRORS)
            return None
        return _found((value, expires_at, tags, data, position))

    def _native_negative(
        self, key: str, stored: NativeNegative, trusted: bool, position: int
    ) -> Found | None:
        """Accept a tier's negative flag from a trusted tier, without a secret.

        With a secret nothing unsigned is accepted (a row planted by someone
        without it is a counted decode error). The entry is framed as a plain
        unsigned negative before it is promoted into untrusted tiers: nothing
        unverified is ever signed.
        """
        if not trusted or self._secret is not None:
            self._counters.add(DECODE_ERRORS)
            return None
        expires_at = stored.expires_at
        if expires_at is not None and expires_at <= self.clock():
            return None
        tags = frozenset(stored.tags)
        data = pack(key, b"", flags=F_NEGATIVE, expires_at=expires_at, tags=tags)
        return _found((None, expires_at, tags, data, position))
