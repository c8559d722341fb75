"""Views over one engine: namespaced (``audio:``), versioned (``audio@v1:``), typed.

A view is a key prefix over the engine (a typed view adds a value check and
conversion), so views share its storage, stats, single-flight and tags. Tag
names are never prefixed: a tag set through any view is reached by
``invalidate_tag`` on the cache or on any other view.

A view's operations are *derived* from the engine's (``_engine.Engine``), not
written out: :func:`_derive` builds each one from the engine method's own
signature when this module is imported, the way ``dataclasses`` builds
``__init__``. So a view takes exactly the engine's arguments (a test compares
every signature), type checkers see the engine's parameter types, and a verb
added to the engine is one line in :class:`_View`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, Final, Generic, ParamSpec, TypeAlias, TypeVar

from ._builder import Checker, KeyBuilder, Memo, build
from ._engine import Engine
from ._keys import EXACT, KeyPart, flat_key, namespace_prefix, version_prefix
from .errors import ConfigError

__all__ = ["CacheView", "KeyBuilder", "Segment", "TypedView"]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

#: What ``key()`` accepts as a segment.
Segment: TypeAlias = "str | int | KeyPart"

# How an operation's first argument carries keys.
_KEY: Final = "key"  # one key (or pattern): prefixed
_KEYS: Final = "keys"  # an iterable of keys: each prefixed
_FOUND: Final = "found"  # keys in, a dict by key out: prefixed, then stripped
_MAPPING: Final = "mapping"  # a mapping of keys to values: keys prefixed
_AS_IS: Final = "as-is"  # no key (tags, stats): passed through

# The operations a typed view converts: their results are restored to ``T``.
_RESTORES = frozenset({"get", "get_or_load", "get_many"})

_PREFIX_ONE = """\
    if {0}.__class__ is str and {0}:
        {0} = self._prefix + {0}
    else:
        {0} = _flat(self._prefix, {0})
"""


def _derive(
    op: Callable[Concatenate[Engine, P], R], shape: str, *, typed: bool = False
) -> Callable[Concatenate[Any, P], R]:
    """Return ``op`` as a view method: same signature, keys under the prefix.

    The method is generated from ``op``'s signature, so it forwards every
    argument as given (no ``*args``/``**kwargs`` repacking on the hit path).
    With ``typed``, a ``value`` (or each value of a mapping) is checked, a
    ``loader`` is wrapped to check its result, and values read back are
    restored to the view's dataclass.
    """
    params = list(inspect.signature(op).parameters.values())[1:]  # self
    first = params[0].name if params else ""
    namespace: dict[str, Any] = {"_op": op, "_flat": flat_key}
    decl: list[str] = []
    call: list[str] = []
    star = False
    for param in params:
        default = ""
        if param.default is not param.empty:
            namespace[f"_d_{param.name}"] = param.default
            default = f"=_d_{param.name}"
        if param.kind is param.VAR_POSITIONAL:
            star = True
            decl.append(f"*{param.name}")
            call.append(f"*{param.name}")
        elif param.kind is param.VAR_KEYWORD:
            decl.append(f"**{param.name}")
            call.append(f"**{param.name}")
        elif param.kind is param.KEYWORD_ONLY:
            if not star:
                star = True
                decl.append("*")
            decl.append(param.name + default)
            call.append(f"{param.name}={param.name}")
        else:  # positional-only is not used by the engine's operations
            decl.append(param.name + default)
            call.append(param.name)
    body = ""
    if typed and "value" in {p.name for p in params}:
        body += "    self._check(value)\n"
    if typed and "loader" in {p.name for p in params}:
        body += "    loader = self._checked(loader)\n"
    if shape == _KEY:
        body += _PREFIX_ONE.format(first)
    elif shape in (_KEYS, _FOUND):
        body += f"    {first} = [_flat(self._prefix, k) for k in {first}]\n"
    elif shape == _MAPPING:
        if typed:
            body += f"    for v in {first}.values():\n        self._check(v)\n"
        body += (
            f"    {first} = {{_flat(self._prefix, k): v for k, v in {first}.items()}}\n"
        )
    result = f"_op(self._engine, {', '.join(call)})"
    restore = typed and op.__name__ in _RESTORES
    if shape == _FOUND:
        value = "self._restore(v)" if restore else "v"
        body += (
            f"    n = len(self._prefix)\n"
            f"    return {{k[n:]: {value} for k, v in {result}.items()}}\n"
        )
    elif restore:
        body += f"    return self._restore({result})\n"
    else:
        body += f"    return {result}\n"
    source = f"def {op.__name__}(self, {', '.join(decl)}):\n{body}"
    exec(source, namespace)  # noqa: S102 - source built from a signature, as dataclasses does
    method: Callable[Concatenate[Any, P], R] = namespace[op.__name__]
    method.__doc__ = f"Like ``HydraCache.{op.__name__}``, under this view's prefix."
    method.__module__ = __name__
    return method


class _View:
    """The operations of every view, derived from the engine's."""

    __slots__ = ("_engine", "_hit", "_prefix")

    def __init__(self, engine: Engine, prefix: str) -> None:
        self._engine = engine
        self._prefix = prefix
        self._hit = engine.local_hit  # bound once, handed to this view's keys

    @property
    def prefix(self) -> str:
        """The text put before every key of this view."""
        return self._prefix

    @property
    def cache(self) -> Engine:
        """The underlying cache."""
        return self._engine

    @property
    def value_check(self) -> Checker | None:
        """What checks a value stored through this view (``None``: anything goes).

        .. versionadded:: 0.2
        """
        return None

    # -- operations (derived; aliases as on the engine) --------------------------

    get = _derive(Engine.get, _KEY)
    set = _derive(Engine.set, _KEY)
    put = set
    get_or_load = _derive(Engine.get_or_load, _KEY)
    get_or_set = get_or_insert_with = try_get_or_insert_with = get_or_load
    contains = _derive(Engine.contains, _KEY)
    __contains__ = contains_key = contains
    delete = _derive(Engine.delete, _KEY)
    remove = invalidate_key = delete
    get_many = _derive(Engine.get_many, _FOUND)
    set_many = _derive(Engine.set_many, _MAPPING)
    add = _derive(Engine.add, _KEY)
    incr = _derive(Engine.incr, _KEY)
    decr = _derive(Engine.decr, _KEY)
    touch = _derive(Engine.touch, _KEY)
    ttl = _derive(Engine.ttl, _KEY)
    delete_many = _derive(Engine.delete_many, _KEYS)
    invalidate = _derive(Engine.invalidate, _KEY)  # the pattern, under the prefix
    invalidate_tag = _derive(Engine.invalidate_tag, _AS_IS)  # tags are cache-wide
    stats = _derive(Engine.stats, _AS_IS)

    def clear(self) -> int:
        """Remove every key under this view's prefix (all keys for the root).

        Nested namespaces are under the prefix and go too; other versions of
        the namespace (``audio@v2:`` for ``audio@v1:``) and the unversioned
        namespace do not.
        """
        if not self._prefix:
            return self._engine.clear()
        return self._engine.invalidate(self._prefix + "*")

    flush = clear


class CacheView(_View):
    """The cache API under a key prefix (``prefix`` ends with ``:`` or is empty).

    Build views with ``cache.namespace(name)``, ``view.namespace(name)``,
    ``view.version(v)`` and ``view.typed(cls, name)``. A view is a valid
    ``cache=`` target for ``@hydra_cache``.

    .. versionadded:: 0.1
    """

    __slots__ = ("_memo",)

    def __init__(self, engine: Engine, prefix: str) -> None:
        super().__init__(engine, prefix)
        self._memo: Memo = {}

    def namespace(self, name: str) -> CacheView:
        """Return a nested view prefixed ``name:`` inside this one.

        ``"a:b"`` is the namespace ``b`` inside ``a``: ``namespace("a:b")``
        equals ``namespace("a").namespace("b")``.

        Raises:
            ConfigError: A ``:``-separated part of ``name`` is empty or
                contains ``*``, ``@``, whitespace or control characters.
        """
        return CacheView(self._engine, self._prefix + namespace_prefix(name))

    def version(self, version: str) -> CacheView:
        """Return this namespace at a version: ``audio:`` becomes ``audio@v1:``.

        Bumping the version is a cheap way to orphan a namespace's old entries
        (they expire or are evicted); ``clear()`` on the old view removes them.

        Raises:
            ConfigError: This is the root view or already a version, or the
                version is not a valid name.
        """
        return CacheView(self._engine, version_prefix(self._prefix, version))

    def typed(self, cls: type[T], namespace: str) -> TypedView[T]:
        """Return a typed view under ``namespace`` inside this one."""
        return TypedView(self.namespace(namespace), cls)

    def key(self, *segments: Segment) -> KeyBuilder[Any]:
        """Return a structured key under this view: ``view.key("users", 42)``.

        Raises:
            InvalidKey: No segment, or a segment is not allowed (see
                ``KeyPart``).
        """
        # The hit path: one dict lookup and the int re-check (see
        # _keys.segments_text). Literals, not names: a global load costs.
        hit = self._memo.get(segments)
        if hit is not None:
            builder, pos = hit
            if pos >= 0:  # one int segment, the usual case ("users", 42)
                if type(segments[pos]) is int:
                    return builder
            elif pos == -1 or EXACT.issuperset(map(type, segments)):
                return builder
        return build(self._engine, self._hit, self._prefix, segments, self._memo)

    def __eq__(self, other: object) -> bool:
        if type(other) is not CacheView:
            return NotImplemented
        return other._engine is self._engine and other._prefix == self._prefix

    def __hash__(self) -> int:
        return hash((id(self._engine), self._prefix))

    def __repr__(self) -> str:
        return f"<CacheView {self._prefix!r} of {self._engine!r}>"


class TypedView(_View, Generic[T]):
    """A namespaced view whose values are ``T``; ``set`` rejects anything else.

    Loader results are checked too (``None`` passes: it is a cached negative).
    A dataclass ``T`` is registered with the cache's codec, so values read
    back from a remote tier are ``T`` again, not dicts.

    .. versionadded:: 0.1
    """

    __slots__ = ("_cls", "_dataclass", "_view")

    def __init__(self, view: CacheView, cls: type[T]) -> None:
        if not isinstance(cls, type):
            raise ConfigError(f"typed() needs a class, not {cls!r}")
        if not isinstance(view, CacheView):
            raise ConfigError(f"TypedView wraps a CacheView, not {view!r}")
        super().__init__(view.cache, view.prefix)
        self._view = view
        self._cls = cls
        self._dataclass = dataclasses.is_dataclass(cls)
        if self._dataclass:
            view.cache.codec.register(cls)

    # -- the conversion ----------------------------------------------------------

    def _restore(self, value: Any) -> Any:
        """Turn a dict back into the dataclass ``T``.

        Bytes decoded before ``T`` was registered (say, an untyped read of the
        same key earlier in this process) left a plain dict in the local tier.
        """
        if self._dataclass and type(value) is dict:
            try:
                return self._cls(**value)
            except TypeError:
                return value
        return value

    def _check(self, value: object) -> None:
        if not isinstance(value, self._cls):
            raise TypeError(
                f"this view holds {self._cls.__qualname__} values, "
                f"not {type(value).__qualname__}"
            )

    def _checked(self, loader: Callable[[], T]) -> Callable[[], T]:
        check = self._check

        def checked() -> T:
            value = loader()
            if value is not None:
                check(value)
            return value

        return checked

    @property
    def value_type(self) -> type[T]:
        """The type of this view's values."""
        return self._cls

    @property
    def value_check(self) -> Checker | None:
        """Raises ``TypeError`` for a value that is not a ``T``."""
        return self._check

    @property
    def view(self) -> CacheView:
        """The untyped view under the same prefix."""
        return self._view

    # -- the operations that take or give values, checked and converted ---------

    get = _derive(Engine.get, _KEY, typed=True)
    set = _derive(Engine.set, _KEY, typed=True)
    put = set
    get_or_load = _derive(Engine.get_or_load, _KEY, typed=True)
    get_or_set = get_or_insert_with = try_get_or_insert_with = get_or_load
    get_many = _derive(Engine.get_many, _FOUND, typed=True)
    set_many = _derive(Engine.set_many, _MAPPING, typed=True)
    add = _derive(Engine.add, _KEY, typed=True)

    # -- views -------------------------------------------------------------------

    def namespace(self, name: str) -> TypedView[T]:
        """Return a nested typed view prefixed ``name:`` inside this one."""
        return TypedView(self._view.namespace(name), self._cls)

    def version(self, version: str) -> TypedView[T]:
        """Return this typed view at a version (``users@v2:``)."""
        return TypedView(self._view.version(version), self._cls)

    def typed(self, cls: type[T], namespace: str) -> TypedView[T]:
        """Return a typed view of ``cls`` under ``namespace`` inside this one."""
        return TypedView(self._view.namespace(namespace), cls)

    def key(self, *segments: Segment) -> KeyBuilder[T]:
        """Return a structured key under this view; its ``set``/loader check ``T``."""
        return build(self._engine, self._hit, self._prefix, segments, None, self._check)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TypedView):
            return NotImplemented
        return other._view == self._view and other._cls is self._cls

    def __hash__(self) -> int:
        return hash((self._view, self._cls))

    def __repr__(self) -> str:
        return f"<TypedView[{self._cls.__qualname__}] {self._prefix!r}>"
