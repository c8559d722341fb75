"""Flask integration: an extension that owns a HydraCache, and cached views.

The package's only importer of Flask (``pip install 'hydracache_sync[flask]'``);
``import hydracache_sync`` never loads it.

::

    from flask import Flask
    from hydracache_sync.flask import HydraCacheExtension

    app = Flask(__name__)
    app.config["HYDRACACHE_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    hydra = HydraCacheExtension(app)

    @app.get("/users/<int:user_id>")
    @hydra.cached_view(ttl=60, tags=lambda user_id: [f"user:{user_id}"])
    def user(user_id: int) -> dict[str, object]:
        return load_user(user_id)

    hydra.cache.invalidate_tag("user:42")   # drops /users/42 in every tier

Configuration (``app.config``; every key is optional):

=============================== ==============================================
``HYDRACACHE_REDIS_URL``        adds the shared Redis tier (``None``: none)
``HYDRACACHE_PREFIX``           the Redis key prefix (``"hc:"``)
``HYDRACACHE_POSTGRES_DSN``     adds the durable Postgres tier (``None``: none)
``HYDRACACHE_POSTGRES_SCHEMA``  schema of its table (``"public"``)
``HYDRACACHE_POSTGRES_TABLE``   its table (``"hydracache"``)
``HYDRACACHE_DEFAULT_TTL``      seconds (or timedelta) for entries and views
                                without a ttl (``300``; ``None``: no expiry)
``HYDRACACHE_MAX_BYTES``        local tier budget (``"64MB"``)
``HYDRACACHE_MAX_ENTRY_SIZE``   largest entry kept locally (1 MB)
``HYDRACACHE_LOCAL_TTL``        bound on local copies of shared/durable entries,
                                i.e. how long another worker may serve a value
                                invalidated elsewhere (``60``)
``HYDRACACHE_SECRET``           HMAC key signing remote entries (``None``)
``HYDRACACHE_ON_TIER_ERROR``    ``"degrade"`` (default) or ``"raise"``
``HYDRACACHE_COMPRESS``         gzip remote payloads over 1 KB (``False``)
``HYDRACACHE_LOCK``             ``"redis"``: one load across processes
``HYDRACACHE_STALE_WHILE_REVALIDATE``  seconds an expired entry is served
                                while one background refresh runs
``HYDRACACHE_BROADCAST``        cross-process invalidation (``True``)
``HYDRACACHE_DISABLED``         ``True``: views and ``memoize`` bypass the
                                cache (tests)
``HYDRACACHE_IGNORE_QUERY``     query parameters left out of view keys,
                                ``fnmatch`` patterns (``("utm_*",)``)
=============================== ==============================================

.. versionadded:: 0.1
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, cast

from ._appconfig import DEFAULT_VIEW_TTL, cache_from_config, seconds_setting
from ._cache import HydraCache
from ._keys import view_key_text
from ._late import LateMemoized
from .errors import ConfigError, MissingDependencyError

try:
    from flask import Flask, Response, current_app, has_app_context, request
    from flask.globals import request_ctx
    from flask.typing import ResponseReturnValue
except ImportError as exc:  # pragma: no cover - exercised without flask only
    raise MissingDependencyError(
        "hydracache_sync.flask needs Flask: pip install 'hydracache_sync[flask]'"
    ) from exc

__all__ = ["EXTENSION_KEY", "HydraCacheExtension", "cache_from_config", "cached_view"]

P = ParamSpec("P")
R = TypeVar("R")

#: The key of the cache in ``app.extensions``.
EXTENSION_KEY = "hydracache"

DEFAULT_KEY_PREFIX = "view:"
#: Query parameters left out of view keys unless HYDRACACHE_IGNORE_QUERY says.
DEFAULT_IGNORE_QUERY = ("utm_*",)

_CACHEABLE_METHODS = frozenset({"GET", "HEAD"})

TagsArg = Iterable[str] | Callable[..., Iterable[str]]


def _app_cache() -> HydraCache:
    """Return the current app's cache, or raise a clear RuntimeError."""
    cache = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(cache, HydraCache):
        raise RuntimeError(
            f"no HydraCache on app {current_app.name!r}: "
            "call HydraCacheExtension(app) or ext.init_app(app) first"
        )
    return cache


class HydraCacheExtension:
    """Give Flask apps a HydraCache and a ``cached_view`` decorator.

    One extension may serve several apps (the app-factory pattern): each app
    gets its own cache in ``app.extensions["hydracache"]``, and :attr:`cache`
    and cached views use the current app's one.

    Args:
        app: The app to initialise now; or call :meth:`init_app` later.
        cache: A ready cache to use for every app instead of building one from
            the config. The caller owns it (the extension never closes it).

    .. versionadded:: 0.1
    """

    def __init__(
        self, app: Flask | None = None, *, cache: HydraCache | None = None
    ) -> None:
        self._given = cache
        self._last: HydraCache | None = None
        self._last_disabled = False
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the app's cache from its config and register it.

        The cache's remote tiers are closed when the app is garbage-collected
        or the process exits (not per request: their pools outlive requests).

        Args:
            app: The Flask app.

        Raises:
            ConfigError: A ``HYDRACACHE_*`` setting is invalid.
            MissingDependencyError: A configured tier's driver is not installed.
            TierUnavailableError: Postgres cannot be reached.
        """
        if self._given is not None:
            cache = self._given
        else:
            cache = cache_from_config(app.config)
            weakref.finalize(app, cache.close)
        app.extensions[EXTENSION_KEY] = cache
        self._last = cache
        self._last_disabled = bool(app.config.get("HYDRACACHE_DISABLED", False))

    @property
    def cache(self) -> HydraCache:
        """The current app's cache (outside an app context: the last one built).

        Raises:
            RuntimeError: :meth:`init_app` was never called.
        """
        if has_app_context():
            found = current_app.extensions.get(EXTENSION_KEY)
            if isinstance(found, HydraCache):
                return found
        if self._last is None:
            raise RuntimeError("HydraCacheExtension is not initialised: init_app(app)")
        return self._last

    def _enabled(self) -> bool:
        """Whether caching is on (``HYDRACACHE_DISABLED`` of the current app)."""
        if has_app_context():
            return not current_app.config.get("HYDRACACHE_DISABLED", False)
        return not self._last_disabled

    def memoize(self, **options: Any) -> Callable[[Callable[P, R]], LateMemoized[P, R]]:
        """Memoize a function in the current app's cache (``@hydra_cache`` options).

        Usable at import time, before :meth:`init_app`, and with several
        apps: each call uses the cache of the current app (outside an app
        context, the last one initialised). ``HYDRACACHE_DISABLED`` makes
        calls run the function directly.

        Args:
            **options: ``ttl``, ``tags``, ``key``, ``namespace``, ``cost``,
                ``negative_ttl``, ``unless``, ``typed``, ``ignore_self`` as
                for :func:`~hydracache_sync.hydra_cache`.

        Raises:
            ConfigError: An option is invalid (checked when decorating).

        .. versionadded:: 0.2
        """
        if "cache" in options:
            raise ConfigError("memoize() uses the app's cache; cache= is not taken")
        LateMemoized.check(options)

        def decorate(function: Callable[P, R]) -> LateMemoized[P, R]:
            return LateMemoized(
                function, lambda: self.cache, self._enabled, dict(options)
            )

        return decorate

    def cached_view(
        self,
        ttl: float | timedelta | None = None,
        *,
        tags: TagsArg = (),
        vary: Sequence[str] = (),
        key_prefix: str = DEFAULT_KEY_PREFIX,
        unless: Callable[[], bool] | None = None,
        ignore_query: Iterable[str] | None = None,
        make_cache_key: Callable[..., str] | None = None,
    ) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, Response]]:
        """Cache a view's GET/HEAD 200 responses; see :func:`cached_view`."""
        return cached_view(
            ttl,
            tags=tags,
            vary=vary,
            key_prefix=key_prefix,
            unless=unless,
            ignore_query=ignore_query,
            make_cache_key=make_cache_key,
        )


class _NotCacheable(Exception):
    """Raised by the loader so that get_or_load stores nothing."""

    def __init__(self, response: Response, owner: object) -> None:
        super().__init__("response not cacheable")
        self.response = response
        self.owner = owner


def view_key(
    vary: Sequence[str] = (),
    key_prefix: str = DEFAULT_KEY_PREFIX,
    ignore_query: Iterable[str] = (),
) -> str:
    """Return the cache key of the current request.

    ``<key_prefix>GET:<script root + path>?<query>|<header>=<value>...``: the
    path is percent-encoded, the query parameters are sorted by name (values of
    one name keep their order), HEAD shares GET's key (Flask answers both with
    the same view) and each declared ``vary`` header adds its value. Keys over
    512 characters become ``<key_prefix>GET:sha256:<hex>``. Readable keys allow
    ``cache.invalidate("view:GET:/users/42*")``.

    Args:
        vary: Request header names whose values separate entries.
        key_prefix: Text put first.
        ignore_query: ``fnmatch`` patterns of query parameter names left out
            of the key (tracking parameters such as ``utm_*``).

    Returns:
        The key.
    """
    return view_key_text(
        key_prefix,
        request.script_root + request.path,
        request.args.items(multi=True),
        [(name, request.headers.get(name, "")) for name in vary],
        ignore_query,
    )


def _session_accessed() -> bool:
    """Tell whether the view read the session, without marking it read.

    Flask >= 3.1.3 marks the session accessed on every access through the
    request context (``ctx.session``), so read the opened session directly.
    """
    ctx = cast("Any", request_ctx)._get_current_object()  # the proxied object
    attrs = vars(ctx)
    session = attrs.get("_session", attrs.get("session"))
    return bool(getattr(session, "accessed", False))


def _refusal(response: Response) -> str | None:
    """Return why ``response`` must not be cached, or ``None`` when it may be."""
    if response.status_code != 200:
        return "status"
    if response.is_streamed or response.direct_passthrough:
        return "streamed"
    if "Set-Cookie" in response.headers:
        return "sets a cookie"
    control = response.cache_control
    if control.private or control.no_store or control.no_cache:
        return "Cache-Control forbids it"
    if "*" in response.vary:
        return "Vary: *"
    if _session_accessed():
        return "read the session"
    return None


def cached_view(
    ttl: float | timedelta | None = None,
    *,
    tags: TagsArg = (),
    vary: Sequence[str] = (),
    key_prefix: str = DEFAULT_KEY_PREFIX,
    unless: Callable[[], bool] | None = None,
    ignore_query: Iterable[str] | None = None,
    make_cache_key: Callable[..., str] | None = None,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, Response]]:
    """Cache a view's responses in the current app's HydraCache.

    Only GET and HEAD requests are served from the cache, and only a 200
    response is stored (body, status and headers; never ``Set-Cookie``). Not
    stored: responses that set a cookie, carry ``Cache-Control`` ``private``,
    ``no-store`` or ``no-cache`` or ``Vary: *``, are streamed, or come from a
    view that read the session (the page may be personal). Requests with an
    ``Authorization`` header bypass the cache (RFC 9111 §3.5).

    A stored response gets ``Cache-Control: public, max-age=<ttl>`` unless the
    view set its own ``Cache-Control``, and ``Vary`` lists the ``vary``
    headers. Every response from the cache path carries ``X-Cache: HIT`` or
    ``MISS`` and ``Age`` (seconds since it was stored). Concurrent misses of
    one page run the view once (single-flight); a page that turns out not to
    be cacheable is rendered by each waiting request itself.

    Args:
        ttl: Seconds or a timedelta; default ``HYDRACACHE_DEFAULT_TTL``.
        tags: Tags of the stored page, or a callable receiving the view's
            keyword arguments and returning them.
        vary: Request headers whose values separate entries, e.g.
            ``("Accept-Language",)``.
        key_prefix: Start of the keys (default ``"view:"``, see
            :func:`view_key`).
        unless: Called per request; ``True`` bypasses the cache.
        ignore_query: Query parameter names (``fnmatch`` patterns) left out
            of the key; default ``HYDRACACHE_IGNORE_QUERY``, else ``utm_*``.
        make_cache_key: Called with the view's arguments; returns the key
            (put after ``key_prefix``) instead of :func:`view_key`'s.

    With ``HYDRACACHE_DISABLED`` set in the app config the view always runs.

    Returns:
        The decorator; put it below ``@app.route``.

    Raises:
        ConfigError: A bad ``ttl``, ``vary`` or ``key_prefix``.
    """
    view_ttl = seconds_setting(ttl, "ttl")
    if isinstance(vary, str):
        vary = (vary,)
    vary = tuple(vary)
    if not all(isinstance(name, str) and name for name in vary):
        raise ConfigError(f"vary must be header names, not {vary!r}")
    if not isinstance(key_prefix, str):
        raise ConfigError(f"key_prefix must be a str, not {key_prefix!r}")
    if make_cache_key is not None and not callable(make_cache_key):
        raise ConfigError(f"make_cache_key must be callable, not {make_cache_key!r}")
    if isinstance(ignore_query, str):
        ignore_query = (ignore_query,)
    fixed_ignore = None if ignore_query is None else tuple(ignore_query)
    fixed_tags: tuple[str, ...] | None
    if isinstance(tags, str):
        fixed_tags = (tags,)
    elif callable(tags):
        fixed_tags = None
    else:
        fixed_tags = tuple(tags)

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
            app = current_app
            if (
                request.method not in _CACHEABLE_METHODS
                or "Authorization" in request.headers
                or app.config.get("HYDRACACHE_DISABLED", False)
                or (unless is not None and unless())
            ):
                return app.make_response(view(*args, **kwargs))
            cache = _app_cache()
            seconds = view_ttl
            if seconds is None:
                seconds = seconds_setting(
                    app.config.get("HYDRACACHE_DEFAULT_TTL", DEFAULT_VIEW_TTL),
                    "HYDRACACHE_DEFAULT_TTL",
                )
            if fixed_tags is not None:
                entry_tags: Iterable[str] = fixed_tags
            else:
                entry_tags = tuple(cast("Callable[..., Iterable[str]]", tags)(**kwargs))
            owner = object()
            produced: list[Response] = []

            def load() -> dict[str, Any]:
                response = app.make_response(view(*args, **kwargs))
                if _refusal(response) is not None:
                    raise _NotCacheable(response, owner)
                if vary:
                    response.vary.update(vary)
                if "Cache-Control" not in response.headers and seconds:
                    response.cache_control.public = True
                    response.cache_control.max_age = int(seconds)
                produced.append(response)
                return {
                    "status": response.status_code,
                    "headers": [
                        [name, value]
                        for name, value in response.headers.items()
                        if name.lower() != "set-cookie"
                    ],
                    "body": response.get_data(),
                    "stored": time.time(),
                }

            if make_cache_key is not None:
                key = key_prefix + make_cache_key(*args, **kwargs)
            else:
                ignore = fixed_ignore
                if ignore is None:
                    ignore = tuple(
                        app.config.get("HYDRACACHE_IGNORE_QUERY", DEFAULT_IGNORE_QUERY)
                    )
                key = view_key(vary, key_prefix, ignore)
            try:
                record = cache.get_or_load(key, load, ttl=seconds, tags=entry_tags)
            except _NotCacheable as exc:
                if exc.owner is owner:
                    return exc.response
                # Another request's load was not cacheable: render our own.
                return app.make_response(view(*args, **kwargs))
            if produced:
                response = produced[0]
                response.headers["X-Cache"] = "MISS"
                response.headers["Age"] = "0"
                return response
            response = app.response_class(
                record["body"], status=record["status"], headers=record["headers"]
            )
            age = max(0, int(time.time() - record["stored"]))
            response.headers["X-Cache"] = "HIT"
            response.headers["Age"] = str(age)
            return response

        return wrapper

    return decorate
