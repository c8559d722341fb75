"""What the framework backends share: the signed-pickle codec, one engine per config.

Django and Flask-Caching store arbitrary Python objects, so their backends
pickle what CBOR cannot hold, but only signed: see :class:`SignedPickleCodec`.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from ._codec import CborCodec, Codec
from ._keys import FRAMEWORK_MAX_KEY as MAX_KEY
from ._keys import framework_key
from .errors import CodecError, ConfigError

if TYPE_CHECKING:
    from ._cache import HydraCache

__all__ = [
    "MAX_KEY",
    "EngineRegistry",
    "SignedPickleCodec",
    "derive_key",
    "framework_key",
]

_CBOR = b"c"
_PICKLE = b"p"
_MAC_SIZE = 32
_SALT = b"hydracache_sync.SignedPickleCodec"


def derive_key(secret: str | bytes) -> bytes:
    """The pickle-signing key for an app secret (never the secret itself)."""
    return hmac.new(
        _SALT,
        secret if isinstance(secret, bytes) else secret.encode("utf-8"),
        hashlib.sha256,
    ).digest()


class SignedPickleCodec:
    """CBOR first; otherwise a pickle signed with HMAC-SHA256.

    Every body starts with one marker byte: ``c`` + CBOR, or ``p`` + a 32-byte
    MAC + the pickle. Decoding checks the MAC (constant time) against each
    key before ``pickle.loads`` runs; unsigned or forged bytes raise
    ``ValueError``, which the cache counts as a decode error and a miss.

    Args:
        keys: Signing keys; the first signs, all verify (key rotation).
    """

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._keys = tuple(keys)
        if not self._keys:
            raise ConfigError("SignedPickleCodec needs a signing key")
        self._cbor: Codec = CborCodec()

    def encode(self, value: object) -> bytes:
        """CBOR bytes, or a signed pickle (``pickle.PickleError`` propagates)."""
        try:
            return _CBOR + self._cbor.encode(value)
        except CodecError:
            pass
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        mac = hmac.new(self._keys[0], data, hashlib.sha256).digest()
        return _PICKLE + mac + data

    def decode(self, data: bytes) -> Any:
        """Return the value; raise ValueError for anything not signed by us."""
        marker, body = data[:1], data[1:]
        if marker == _CBOR:
            return self._cbor.decode(body)
        if marker != _PICKLE or len(body) < _MAC_SIZE:
            raise ValueError("not a hydracache_sync.django payload")
        mac, payload = body[:_MAC_SIZE], body[_MAC_SIZE:]
        for key in self._keys:
            expected = hmac.new(key, payload, hashlib.sha256).digest()
            if hmac.compare_digest(mac, expected):
                return pickle.loads(payload)  # noqa: S301 - signed by us, verified
        raise ValueError("pickle signature does not verify; not unpickled")

    def register(self, cls: type) -> None:
        """Let a dataclass decode as itself (see ``CborCodec.register``)."""
        self._cbor.register(cls)


class EngineRegistry:
    """One engine per configuration per process, built on first use."""

    def __init__(self) -> None:
        self._engines: dict[Hashable, HydraCache] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], HydraCache]) -> HydraCache:
        """Return the engine for ``key``, building it once."""
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = self._engines[key] = build()
            return engine

    def close_all(self) -> None:
        """Close and forget every engine."""
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.close()
