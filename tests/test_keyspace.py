"""Key prefixes and composed keys: namespaces, versions, flat keys, view keys."""

from __future__ import annotations

import pytest

from hydracache_sync import ConfigError, InvalidKey
from hydracache_sync._keys import (
    MAX_VIEW_KEY,
    flat_key,
    namespace_prefix,
    segments_text,
    version_prefix,
    view_key_text,
)


class TestPrefixes:
    def test_namespace_nests_on_colons(self) -> None:
        """``"a:b"`` is ``b`` inside ``a``; a bad part is refused."""
        assert "a:b:" == namespace_prefix("a:b")
        with pytest.raises(ConfigError):
            namespace_prefix("a::b")

    def test_version_of_a_namespace(self) -> None:
        """``audio:`` at ``v1`` is ``audio@v1:``; root and versions refuse."""
        assert "x:audio@v1:" == version_prefix("x:audio:", "v1")
        with pytest.raises(ConfigError):
            version_prefix("", "v1")
        with pytest.raises(ConfigError):
            version_prefix("audio@v1:", "v2")

    def test_flat_key_under_a_prefix(self) -> None:
        """A flat key is put after the prefix; a non-str or empty key raises."""
        assert "n:k" == flat_key("n:", "k")
        with pytest.raises(InvalidKey):
            flat_key("n:", "")
        with pytest.raises(InvalidKey):
            flat_key("n:", 3)


class TestSegments:
    def test_text_and_int_position(self) -> None:
        """Segments join with ``:``; the single int's position is remembered."""
        assert ("users:42", 1) == segments_text(("users", 42))
        assert ("users:42", 1) == segments_text(("users", 42))  # from the memo

    def test_bool_never_passes_as_an_int(self) -> None:
        """``True == 1``, yet a remembered ``("a", 1)`` never serves a bool."""
        segments_text(("a", 1))
        with pytest.raises(InvalidKey):
            segments_text(("a", True))


class TestViewKeys:
    def test_sorted_query_and_vary_headers(self) -> None:
        """Parameters sort by name, ignored ones go, headers append lower-cased."""
        key = view_key_text(
            "view:",
            "/users/42",
            [("b", "2"), ("utm_source", "x"), ("a", "1")],
            [("Accept-Language", "de ch")],
            ("utm_*",),
        )
        assert "view:GET:/users/42?a=1&b=2|accept-language=de%20ch" == key

    def test_long_keys_become_digests(self) -> None:
        """A key over the limit is the prefix, ``GET:sha256:`` and 64 hex digits."""
        key = view_key_text("view:", "/" + "x" * MAX_VIEW_KEY, [])
        assert key.startswith("view:GET:sha256:")
        assert len("view:GET:sha256:") + 64 == len(key)
