"""Estimate the memory a value holds, and tell whether cbor2 takes it unaided.

The local tier is bounded by memory, not by encoded size: a list of small
ints encodes to about a byte per item but holds about 36 in the process (the
int object and a pointer), and a nested dict of short strings about 10 times
its CBOR. ``measure`` adds up ``sys.getsizeof`` over the value's objects
(containers and their items, dataclass fields), counting ``None``, ``True``
and ``False`` as free (they are singletons) and each other object once per
reference (shared objects are counted again).

``plain_size`` does the same walk for the values made only of ``str``,
``bytes``, ``int``, ``float``, ``bool``, ``None``, ``list`` and ``dict``, and
returns -1 for anything else: such plain values are exactly those the default
codec encodes without its extension hooks, so a memory-only cache can store
them without encoding them at all (the codec would accept them).
"""

from __future__ import annotations

import dataclasses
from sys import getsizeof
from typing import Any

__all__ = ["measure", "plain_size"]

_MAX_DEPTH = 32  # deeper values go through the codec (as _codec._plain does)


def _str_size(text: str) -> int:
    # CPython's compact ASCII string: a 49-byte header (3.11) and a byte a char.
    return 49 + len(text) if text.isascii() else getsizeof(text)


def plain_size(value: object, depth: int = 0) -> int:
    """Return the estimated bytes of a plain value, or -1 when it is not plain.

    Plain: only ``str``, ``bytes``, ``int``, ``float``, ``bool``, ``None``,
    ``list`` and ``dict`` (with scalar keys), at most 32 levels deep.
    ``sys.getsizeof`` costs about 200 ns a call, so the usual sizes are
    computed here: an int counts 32 bytes (28 below 2**30, 32 below 2**60),
    a float 24, bytes 33 + length, an ASCII str 49 + length, a list 56 + 8
    per item (+1 for over-allocation) and a dict of up to 5 keys 224.
    """
    kind = value.__class__
    if kind is str:
        return _str_size(value)  # type: ignore[arg-type]
    if kind is int:
        return 32
    if kind is float:
        return 24
    if kind is bool or value is None:
        return 0
    if kind is bytes:
        return 33 + len(value)  # type: ignore[arg-type]
    if depth > _MAX_DEPTH:
        return -1
    items: Any
    if kind is dict:
        count = len(value)  # type: ignore[arg-type]
        total = (224 if count else 64) if count <= 5 else getsizeof(value)
        for key in value:  # type: ignore[attr-defined]
            kind = key.__class__
            if kind is str:
                total += 49 + len(key) if key.isascii() else getsizeof(key)
            elif kind is int:
                total += 32
            elif not (kind is bool or key is None or kind is float or kind is bytes):
                return -1
            else:
                total += plain_size(key)
        items = value.values()  # type: ignore[attr-defined]
    elif kind is list:
        total = 56 + 9 * len(value)  # type: ignore[arg-type]
        items = value
    else:
        return -1
    # A dict's values and a list's items: one loop for both.
    for item in items:
        kind = item.__class__
        if kind is str:
            total += 49 + len(item) if item.isascii() else getsizeof(item)
        elif kind is int:
            total += 32
        elif kind is bool or item is None:
            pass
        else:
            size = plain_size(item, depth + 1)
            if size < 0:
                return -1
            total += size
    return total


def measure(value: object) -> int:
    """Return the estimated bytes ``value`` holds (any value, cycles included)."""
    size = plain_size(value)
    if size >= 0:
        return size
    return _walk(value, set())


def _walk(value: Any, seen: set[int]) -> int:
    if value is None or type(value) is bool:
        return 0
    ident = id(value)
    if ident in seen:  # a cycle (or a shared object): counted once
        return 0
    seen.add(ident)
    total = getsizeof(value)
    if isinstance(value, dict):
        for key, item in value.items():
            total += _walk(key, seen) + _walk(item, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            total += _walk(item, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "__dict__"):
            total += getsizeof(vars(value))
        for fld in dataclasses.fields(value):
            total += _walk(getattr(value, fld.name, None), seen)
    return total
