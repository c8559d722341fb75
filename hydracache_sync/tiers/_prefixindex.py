"""The local tier's wildcard index: keys by directory, directories as a tree.

A key's *directory* is the text before its last ``:`` (``None`` for a key
without one). The index maps each directory to its keys and to its child
directories, so ``keys_with_prefix("users:42:")`` visits only the
``users:42`` subtree and ``keys_with_prefix("users:4")`` the ``users``
directory's own keys and its children whose name starts with ``4``. A lone
member is stored as the bare ``str`` (a set only from the second one on),
which halves the index for one-key directories.

Not thread-safe on its own: the owning store calls it under its write lock.
It is built lazily (``built``), by the first lookup, from the keys the store
hands over, so a store that never invalidates by prefix never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PrefixIndex"]

#: Directory -> its keys (or child directories): a bare str or a set of them.
_Multimap = dict[str | None, str | set[str]]


class PrefixIndex:
    """Keys by directory, for wildcard invalidation with a literal prefix."""

    __slots__ = ("_children", "_keys", "built")

    def __init__(self) -> None:
        self._keys: _Multimap = {}
        self._children: _Multimap = {}
        self.built = False

    @property
    def empty(self) -> bool:
        """Tell whether the index holds no key and no directory."""
        return not self._keys and not self._children

    def clear(self) -> None:
        """Forget every key (the index stays built if it was)."""
        self._keys.clear()
        self._children.clear()

    def add(self, key: str) -> None:
        """Index a new key."""
        # Inlined (no helper calls): runs on every set of a new key once built.
        cut = key.rfind(":")
        directory = key[:cut] if cut >= 0 else None
        members = self._keys.get(directory)
        if members is None:
            self._keys[directory] = key
            if directory is not None and directory not in self._children:
                self._link(directory)
        elif members.__class__ is str:
            self._keys[directory] = {members, key}
        else:
            members.add(key)  # type: ignore[union-attr]

    def discard(self, key: str) -> None:
        """Forget a key (and directories left with no keys and no children)."""
        # Inlined like add: runs for every removal (delete, expiry, eviction).
        cut = key.rfind(":")
        directory = key[:cut] if cut >= 0 else None
        members = self._keys.get(directory)
        if members is None:
            return
        if members.__class__ is str:
            if members != key:
                return
        else:
            members.discard(key)  # type: ignore[union-attr]
            if members:
                return
        del self._keys[directory]
        if directory is not None and directory not in self._children:
            self._unlink(directory)

    def keys_with_prefix(self, prefix: str, every_key: Iterable[str]) -> list[str]:
        """Return every key starting with ``prefix`` (non-empty).

        ``every_key`` builds the index on the first call; later calls ignore it.
        """
        if not self.built:
            self.built = True
            for key in every_key:
                self.add(key)
        cut = prefix.rfind(":")
        directory = prefix[:cut] if cut >= 0 else None
        partial = prefix[cut + 1 :]  # the unfinished last segment (may be "")
        found = [
            key for key in _members(self._keys, directory) if key.startswith(prefix)
        ]
        skip = 0 if directory is None else len(directory) + 1
        stack = [
            child
            for child in _members(self._children, directory)
            if child.startswith(partial, skip)
        ]
        while stack:
            current = stack.pop()
            found.extend(_members(self._keys, current))
            stack.extend(_members(self._children, current))
        return found

    def _link(self, directory: str | None) -> None:
        """Record a new directory under its parents, up to a known one."""
        while directory is not None:
            cut = directory.rfind(":")
            parent = directory[:cut] if cut >= 0 else None
            known = parent is None or parent in self._children or parent in self._keys
            _add(self._children, parent, directory)
            if known:
                return
            directory = parent

    def _unlink(self, directory: str) -> None:
        """Forget a directory left with no keys and no children, and empty parents."""
        current: str | None = directory
        while current is not None:
            cut = current.rfind(":")
            parent = current[:cut] if cut >= 0 else None
            if not _discard(self._children, parent, current):
                return  # the parent still has other children
            if parent in self._keys:
                return  # the parent still has keys
            current = parent


def _add(mapping: _Multimap, name: str | None, member: str) -> None:
    current = mapping.get(name)
    if current is None:
        mapping[name] = member
    elif isinstance(current, str):
        if current != member:
            mapping[name] = {current, member}
    else:
        current.add(member)


def _discard(mapping: _Multimap, name: str | None, member: str) -> bool:
    """Remove ``member``; return True when ``name`` is left with no members."""
    current = mapping.get(name)
    if current is None:
        return False
    if isinstance(current, str):
        if current != member:
            return False
    else:
        current.discard(member)
        if current:
            return False
    del mapping[name]
    return True


def _members(mapping: _Multimap, name: str | None) -> Iterable[str]:
    current = mapping.get(name)
    if current is None:
        return ()
    if isinstance(current, str):
        return (current,)
    return current
