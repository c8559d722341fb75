"""Framework keys: a Django or Flask-Caching key in the form the core accepts."""

from __future__ import annotations

import hashlib

__all__ = ["FRAMEWORK_MAX_KEY", "framework_key"]

#: Framework keys longer than this are hashed (the core takes up to 2048).
FRAMEWORK_MAX_KEY = 512


def framework_key(key: str) -> str:
    """Return a framework's key as a core key: as it is, or hashed when unusual.

    Django and Flask-Caching accept any string; the core refuses keys over
    2048 characters, and control characters, NUL or lone surrogates would not
    survive every tier. Such keys (and any over :data:`FRAMEWORK_MAX_KEY` characters)
    become their printable start plus ``#sha256:`` and the digest of the
    whole key, so distinct keys stay distinct.
    """
    if len(key) <= FRAMEWORK_MAX_KEY and key.isprintable():
        return key
    raw = key.encode("utf-8", "surrogatepass")
    head = "".join(char for char in key[:64] if char.isprintable())
    return f"{head}#sha256:{hashlib.sha256(raw).hexdigest()}"
