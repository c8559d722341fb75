"""Decorator keys: the digest of a call's arguments and the memo remembering it.

A call's key digest is BLAKE2b-128 over ``a<name>=<value>`` for each bound
parameter in signature order (defaults applied), in ``encoding.py``'s
canonical encoding (:class:`ArgumentKeys`, specialised once per decorated
function); :class:`KeyMemo` is the bounded map remembering the keys by
argument tuple, and :func:`memo_retainable` tells which tuples it may keep.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections.abc import Callable, Hashable
from typing import Any, Final

from ..errors import InvalidKey
from .encoding import SCALARS, encode, qualified, retainable, utf8
from .parts import join_segments

__all__ = [
    "KW",
    "ArgumentKeys",
    "KeyMemo",
    "custom_key",
    "function_prefix",
    "memo_retainable",
]

#: Separates positional arguments from keyword items in a memo key.
KW: Final = object()


def function_prefix(func: Callable[..., Any]) -> str:
    """Return the text before a decorated function's digests: ``module.qualname:``."""
    return f"{func.__module__}.{func.__qualname__}:"


def memo_retainable(memo_key: tuple[Any, ...]) -> bool:
    """Tell whether a memo key holds plain values only (no instance kept alive)."""
    if len(memo_key) > 64:
        return False
    for item in memo_key:
        cls = type(item)
        if cls is int or cls is float or cls is bool or item is None or item is KW:
            continue
        if not retainable(item):
            return False
    return True


def custom_key(prefix: str, made: object, qualname: str) -> str:
    """Return the key a ``key=`` callable's result ``made`` names under ``prefix``.

    Raises:
        InvalidKey: ``made`` is neither a non-empty ``str`` nor a tuple (or
            list) of valid key segments.
    """
    if isinstance(made, (tuple, list)):
        return join_segments(prefix, tuple(made))
    if isinstance(made, str) and made:
        return prefix + made
    raise InvalidKey(
        f"key= for {qualname} returned {made!r}: return a "
        "non-empty str or a tuple of key segments"
    )


_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)
_BLAKE2B_128 = hashlib.blake2b(digest_size=16)  # copied per digest: no setup parsing


class ArgumentKeys:
    """The digest of a function's arguments, specialised once per function.

    Calls whose arguments the signature maps without ``Signature.bind``
    (positional and keyword arguments of a signature without ``*args`` or
    ``**kwargs``) are encoded by a loop over precomputed parameter heads, with
    defaults encoded once when they are plain immutable values; scalars
    (``int``, ``str``, ``float``, ``bool``, ``None``, ``bytes``, tuples) skip
    the general dispatch. Anything else (``*args``, a missing argument, a
    value without a canonical form) goes through ``bind`` and gives the same
    digest, or the error.
    """

    __slots__ = (
        "_defaults",
        "_heads",
        "_ignore_self",
        "_index",
        "_positional",
        "_qualname",
        "_signature",
        "_single",
        "_specialised",
        "_typed",
    )

    def __init__(
        self,
        signature: inspect.Signature,
        *,
        qualname: str,
        typed: bool = False,
        ignore_self: bool = False,
    ) -> None:
        self._signature = signature
        self._qualname = qualname
        self._typed = typed
        self._ignore_self = ignore_self
        params = list(signature.parameters.values())
        self._specialised = all(
            p.kind in (*_POSITIONAL, inspect.Parameter.KEYWORD_ONLY) for p in params
        )
        self._heads = [b"a" + utf8(p.name) + b"=" for p in params]
        self._positional = sum(1 for p in params if p.kind in _POSITIONAL)
        # Parameters a keyword argument may name, by position.
        self._index = {
            p.name: i
            for i, p in enumerate(params)
            if p.kind is not inspect.Parameter.POSITIONAL_ONLY
        }
        # Each parameter's encoded default (head included), or None: required,
        # or a default that may change (encoded per call, through bind).
        defaults: list[bytes | None] = []
        for i, p in enumerate(params):
            if i == 0 and ignore_self:
                defaults.append(None if p.default is p.empty else b"")
            elif p.default is p.empty or not retainable(p.default):
                defaults.append(None)
            else:
                try:
                    defaults.append(self._heads[i] + self._argument(p.default))
                except TypeError:
                    defaults.append(None)
        self._defaults = defaults
        # The head of the only parameter, when one untyped argument is the
        # whole encoding (the common one-argument call takes a shortcut).
        self._single = (
            self._heads[0]
            if len(params) == 1
            and self._specialised
            and not typed
            and not ignore_self
            and params[0].kind in _POSITIONAL
            else None
        )

    def _argument(self, value: Any) -> bytes:
        if self._typed:  # like lru_cache(typed=True): immediate arguments only
            return b"@" + qualified(type(value)) + b";" + encode(value)
        return encode(value)

    def digest(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Return the 32-hex digest of a call's arguments.

        Raises:
            TypeError: The arguments do not fit the signature, or one has no
                canonical form (the message names ``key=``).
        """
        single = self._single
        if single is not None and len(args) == 1 and not kwargs:
            # One scalar for a one-parameter function: no further call frames.
            scalar = SCALARS.get(type(args[0]))
            data = None if scalar is None else single + scalar(args[0])
        elif self._specialised:
            data = self._specialised_encoding(args, kwargs)
        else:
            data = None
        if data is None:
            data = self._bound_encoding(args, kwargs)
        hasher = _BLAKE2B_128.copy()
        hasher.update(data)
        return hasher.hexdigest()

    def _specialised_encoding(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> bytes | None:
        """Encode without ``bind``; None when the call needs the general path."""
        count = len(args)
        if count > self._positional:
            return None
        heads = self._heads
        argument = self._argument
        try:
            if count == 1 and not kwargs and len(heads) == 1 and not self._ignore_self:
                return heads[0] + argument(args[0])  # the common one-argument call
            parts = list(self._defaults)
            start = 1 if self._ignore_self and count else 0
            if start:
                parts[0] = b""
            for i in range(start, count):
                parts[i] = heads[i] + argument(args[i])
            for name, value in kwargs.items():
                i = self._index.get(name, -1)
                if i < count:  # unknown, positional-only, or given twice
                    return None
                parts[i] = (
                    b"" if i == 0 and self._ignore_self else heads[i] + argument(value)
                )
        except TypeError:
            return None  # the general path raises the helpful message
        if None in parts:
            return None
        return b"".join(parts)  # type: ignore[arg-type]

    def _bound_encoding(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        out = bytearray()
        items = list(bound.arguments.items())
        if self._ignore_self:
            items = items[1:]
        kinds = self._signature.parameters
        for name, value in items:
            kind = kinds[name].kind
            out += b"a" + utf8(name) + b"="
            try:
                if kind is inspect.Parameter.VAR_POSITIONAL:
                    out += b"(%d;" % len(value)
                    for item in value:
                        out += self._argument(item)
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    pairs = [
                        b"k" + utf8(key) + b"=" + self._argument(value[key])
                        for key in sorted(value)
                    ]
                    out += b"{%d;" % len(pairs) + b"".join(pairs)
                else:
                    out += self._argument(value)
            except TypeError as exc:
                raise TypeError(
                    f"@hydra_cache cannot build a key for {self._qualname}"
                    f"(): argument {name!r} ({exc}); pass key= (a callable building "
                    "the key from the arguments), give the type a __cache_key__() "
                    "method, or use ignore_self=True for an instance"
                ) from None
        return bytes(out)


class KeyMemo:
    """Keys remembered by argument tuple: bounded, two generations, lock-free reads.

    The hit path reads ``memo.recent[args]``: a plain dict (the same object
    for the memo's life, so callers may bind it once), no lock, a C
    ``KeyError`` on a miss. :meth:`recall` also looks in the previous
    generation and moves a hit forward; :meth:`remember` adds under a lock.
    When the current generation holds ``capacity`` keys it becomes the
    previous one (the older one is dropped), so the memo holds between
    ``capacity`` and ``2 * capacity`` of the most recently used keys and is
    never emptied wholesale because it is full.
    """

    __slots__ = ("_capacity", "_lock", "_older", "recent")

    def __init__(self, capacity: int) -> None:
        self.recent: Final[dict[Hashable, str]] = {}
        self._capacity = max(1, capacity)
        self._older: dict[Hashable, str] = {}
        self._lock = threading.Lock()

    def recall(self, args: Hashable) -> str | None:
        """Return the key remembered for ``args`` in either generation, or None.

        Raises:
            TypeError: ``args`` is not hashable.
        """
        key = self.recent.get(args)
        if key is None:
            key = self._older.get(args)
            if key is not None:
                self.remember(args, key)
        return key

    def remember(self, args: Hashable, key: str) -> None:
        """Add ``args -> key`` to the current generation (rotating when full)."""
        recent = self.recent
        with self._lock:
            if len(recent) >= self._capacity:
                self._older = recent.copy()
                recent.clear()
            recent[args] = key

    def forget(self, capacity: int | None = None) -> None:
        """Drop every remembered key (both generations); optionally resize."""
        with self._lock:
            if capacity is not None:
                self._capacity = max(1, capacity)
            self._older = {}
            self.recent.clear()

    @property
    def size(self) -> int:
        """How many keys are remembered, both generations together."""
        return len(self.recent) + len(self._older)
