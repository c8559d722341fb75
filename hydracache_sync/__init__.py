"""hydracache_sync: a synchronous, thread-safe cache over memory, Redis and Postgres.

Only this module is the public surface; implementation modules are private.
``RedisStore`` and ``PostgresStore`` import their drivers when constructed, so
``import hydracache_sync`` needs neither redis nor psycopg2.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._cache import HydraCache as HydraCache
from ._cache import Uncached as Uncached
from ._codec import CborCodec as CborCodec
from ._codec import Codec as Codec
from ._decorator import BoundCachedFunction as BoundCachedFunction
from ._decorator import CachedFunction as CachedFunction
from ._decorator import get_default_cache as get_default_cache
from ._decorator import hydra_cache as hydra_cache
from ._decorator import set_default_cache as set_default_cache
from ._keys import KeyPart as KeyPart
from ._options import CacheOptions as CacheOptions
from ._options import Expires as Expires
from ._placement import Cost as Cost
from ._placement import Tier as Tier
from ._placement import TierPlan as TierPlan
from ._placement import TierTTLs as TierTTLs
from ._stats import CacheStats as CacheStats
from ._types import MISSING as MISSING
from ._views import CacheView as CacheView
from ._views import KeyBuilder as KeyBuilder
from ._views import TypedView as TypedView
from .errors import CacheClosedError as CacheClosedError
from .errors import CodecError as CodecError
from .errors import ConfigError as ConfigError
from .errors import HydraCacheError as HydraCacheError
from .errors import InvalidKey as InvalidKey
from .errors import MissingDependencyError as MissingDependencyError
from .errors import TierError as TierError
from .errors import TierTimeoutError as TierTimeoutError
from .errors import TierUnavailableError as TierUnavailableError
from .tiers.local import LocalStore as LocalStore

if TYPE_CHECKING:
    from .tiers.postgres import PostgresStore as PostgresStore
    from .tiers.redis import RedisStore as RedisStore

__version__ = "0.1.0"

# A library logs but never configures logging: without this handler an app
# with no logging set up would get our warnings from Python's last resort.
logging.getLogger("hydracache_sync").addHandler(logging.NullHandler())

__all__ = [
    "MISSING",
    "BoundCachedFunction",
    "CacheClosedError",
    "CacheOptions",
    "CacheStats",
    "CacheView",
    "CachedFunction",
    "CborCodec",
    "Codec",
    "CodecError",
    "ConfigError",
    "Cost",
    "Expires",
    "HydraCache",
    "HydraCacheError",
    "InvalidKey",
    "KeyBuilder",
    "KeyPart",
    "LocalStore",
    "MissingDependencyError",
    "PostgresStore",
    "RedisStore",
    "Tier",
    "TierError",
    "TierPlan",
    "TierTTLs",
    "TierTimeoutError",
    "TierUnavailableError",
    "TypedView",
    "Uncached",
    "__version__",
    "get_default_cache",
    "hydra_cache",
    "set_default_cache",
]

_LAZY = {
    "RedisStore": "hydracache_sync.tiers.redis",
    "PostgresStore": "hydracache_sync.tiers.postgres",
}


def __getattr__(name: str) -> Any:
    # The tier modules themselves import no driver at import time; loading them
    # lazily keeps `import hydracache_sync` to the stdlib and cbor2.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hydracache_sync' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
