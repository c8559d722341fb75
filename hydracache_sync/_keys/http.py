"""HTTP view keys: the cache key of a GET request (the Flask ``view_key``)."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from urllib.parse import quote, urlencode

__all__ = ["MAX_VIEW_KEY", "PATH_SAFE", "view_key_text"]


#: Characters kept as they are in a view key's path (RFC 3986 pchar + "/").
PATH_SAFE = "/:@!$&'()*+,;=-._~"
#: Longer view keys are hashed: Redis and Postgres take them, but a 2 KB key
#: per page is waste, and the core rejects keys over 2048 characters.
MAX_VIEW_KEY = 512


def view_key_text(
    key_prefix: str,
    path: str,
    args: Iterable[tuple[str, str]],
    headers: Sequence[tuple[str, str]] = (),
    ignore_query: Iterable[str] = (),
) -> str:
    """Return the cache key of an HTTP GET (see ``hydracache_sync.flask.view_key``).

    ``<key_prefix>GET:<path>?<query>|<header>=<value>...``: the path is
    percent-encoded, the query parameters are sorted by name (values of one
    name keep their order) and each header adds its value. Keys over
    ``MAX_VIEW_KEY`` characters become ``<key_prefix>GET:sha256:<hex>``.

    Args:
        key_prefix: Text put first.
        path: The request path (script root included).
        args: The query parameters, in request order.
        headers: ``(name, value)`` of each header that separates entries.
        ignore_query: ``fnmatch`` patterns of parameter names left out.
    """
    key = f"{key_prefix}GET:{quote(path, safe=PATH_SAFE)}"
    ignored = tuple(ignore_query)
    pairs = sorted(
        (
            pair
            for pair in args
            if not any(fnmatch.fnmatchcase(pair[0], p) for p in ignored)
        ),
        key=lambda pair: pair[0],
    )
    if pairs:
        key += "?" + urlencode(pairs)
    for name, value in headers:
        key += f"|{name.lower()}={quote(value, safe='')}"
    if len(key) > MAX_VIEW_KEY:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        key = f"{key_prefix}GET:sha256:{digest}"
    return key
