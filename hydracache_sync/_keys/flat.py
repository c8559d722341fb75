"""Flat keys, tags and patterns: checked once against what every tier can store.

A flat key (``cache.get("users:42")``), a tag and an invalidation pattern are
checked once, at the API boundary (:func:`check_key`, :func:`check_tag`,
:func:`check_pattern`): a non-empty ``str``, UTF-8 encodable (no lone
surrogate), without NUL (PostgreSQL ``text`` cannot hold one), of at most
``MAX_KEY_LENGTH`` (2,048) UTF-8 bytes (well under PostgreSQL's 2,704-byte
btree and GIN index rows; Redis allows far more); an entry carries at most
``MAX_TAGS`` (1,024) tags. Anything else is an
:class:`~hydracache_sync.errors.InvalidKey`, so no driver error
(``ValueError``, ``UnicodeEncodeError``) or index-row error ever comes from a
key or a tag.
"""

from __future__ import annotations

from typing import Final

from ..errors import InvalidKey

__all__ = ["MAX_KEY_LENGTH", "MAX_TAGS", "check_key", "check_pattern", "check_tag"]

#: The longest key, tag or pattern accepted, in UTF-8 bytes.
MAX_KEY_LENGTH: Final = 2048
#: The most tags one entry may carry.
MAX_TAGS: Final = 1024


def check_key(key: object) -> str:
    """Return ``key`` if it is a usable flat key, else raise InvalidKey."""
    if (
        type(key) is str
        and key.isascii()
        and 0 < len(key) <= MAX_KEY_LENGTH
        and "\0" not in key
    ):
        return key  # the common case: four C-level checks
    return _check_text(key, "cache key")


def check_tag(tag: object) -> str:
    """Return ``tag`` if every tier can store it, else raise InvalidKey."""
    if (
        type(tag) is str
        and tag.isascii()
        and 0 < len(tag) <= MAX_KEY_LENGTH
        and "\0" not in tag
    ):
        return tag
    return _check_text(tag, "tag")


def check_pattern(pattern: object) -> str:
    """Return ``pattern`` if it is a usable ``*`` pattern, else raise InvalidKey."""
    return _check_text(pattern, "pattern")


def _check_text(text: object, what: str) -> str:
    """The full check behind check_key/check_tag/check_pattern, with reasons."""
    if not isinstance(text, str):
        raise InvalidKey(f"a {what} is a str, not {type(text).__name__}: {text!r}")
    if not text:
        raise InvalidKey(f"the empty string is not a {what}")
    if "\0" in text:
        raise InvalidKey(f"{what} {text[:80]!r} contains NUL, which PostgreSQL refuses")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidKey(
            f"{what} {text[:80]!r} is not UTF-8 encodable (a lone surrogate at "
            f"{exc.start}): decode text with errors='strict' or hash it with "
            "KeyPart.hash()"
        ) from None
    if size > MAX_KEY_LENGTH:
        raise InvalidKey(
            f"{what} of {size} UTF-8 bytes is over {MAX_KEY_LENGTH}: "
            "hash long parts with KeyPart.hash()"
        )
    return text
