"""The public surface: ``__all__`` is complete, sorted and importable."""

from __future__ import annotations

import hydracache_sync


def test_all_is_sorted() -> None:
    """__all__ is kept sorted."""
    names = list(hydracache_sync.__all__)
    assert (
        sorted(names, key=lambda n: (not n.isupper(), n)) == names
        or sorted(names) == names
    )


def test_every_name_resolves() -> None:
    """Every name in __all__ is importable from the package."""
    for name in hydracache_sync.__all__:
        assert getattr(hydracache_sync, name) is not None, name


def test_public_names_are_exported() -> None:
    """No public, non-module attribute is missing from __all__."""
    import types

    public = {
        name
        for name, value in vars(hydracache_sync).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations", "TYPE_CHECKING", "Any"}
    }
    assert set() == public - set(hydracache_sync.__all__)


def test_ships_py_typed() -> None:
    """The package carries its PEP 561 marker."""
    import pathlib

    assert (pathlib.Path(hydracache_sync.__file__).parent / "py.typed").exists()
