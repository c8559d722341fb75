"""All key making: flat-key checks, segments, prefixes, decorator digests, view keys.

Every piece of text that becomes a cache key is made or checked in this
subpackage, one module per concern:

- ``flat.py``: flat keys, tags and patterns, checked against what every tier
  can store (:func:`check_key`, :func:`check_tag`, :func:`check_pattern`).
- ``parts.py``: segment rules, the ``*`` wildcard and :class:`KeyPart`.
- ``space.py``: namespace and version prefixes, flat keys under a prefix and
  the remembered texts of structured keys.
- ``encoding.py`` and ``args.py``: ``@hydra_cache``'s keys (a canonical
  encoding of a call's arguments, its digest and the memo remembering it).
- ``http.py``: the key of an HTTP view (the Flask extension's ``view_key``).
- ``frameworks.py``: a Django or Flask-Caching key as a core key.

No I/O here, and nothing from the cache. The key builder that uses these
rules is ``_builder.py``. Other modules import from this package, never from
its submodules.
"""

from __future__ import annotations

from .args import KW as KW
from .args import ArgumentKeys as ArgumentKeys
from .args import KeyMemo as KeyMemo
from .args import custom_key as custom_key
from .args import function_prefix as function_prefix
from .args import memo_retainable as memo_retainable
from .encoding import encode_value as encode_value
from .encoding import retainable as retainable
from .flat import MAX_KEY_LENGTH as MAX_KEY_LENGTH
from .flat import MAX_TAGS as MAX_TAGS
from .flat import check_key as check_key
from .flat import check_pattern as check_pattern
from .flat import check_tag as check_tag
from .frameworks import FRAMEWORK_MAX_KEY as FRAMEWORK_MAX_KEY
from .frameworks import framework_key as framework_key
from .http import MAX_VIEW_KEY as MAX_VIEW_KEY
from .http import PATH_SAFE as PATH_SAFE
from .http import view_key_text as view_key_text
from .parts import WILDCARD as WILDCARD
from .parts import KeyPart as KeyPart
from .parts import check_segment as check_segment
from .parts import join_segments as join_segments
from .parts import segment_text as segment_text
from .space import EXACT as EXACT
from .space import MEMO_CAP as MEMO_CAP
from .space import check_name as check_name
from .space import flat_key as flat_key
from .space import namespace_prefix as namespace_prefix
from .space import segments_text as segments_text
from .space import version_prefix as version_prefix
from .space import wildcard_misuse as wildcard_misuse

__all__ = [
    "EXACT",
    "FRAMEWORK_MAX_KEY",
    "KW",
    "MAX_KEY_LENGTH",
    "MAX_TAGS",
    "MAX_VIEW_KEY",
    "MEMO_CAP",
    "PATH_SAFE",
    "WILDCARD",
    "ArgumentKeys",
    "KeyMemo",
    "KeyPart",
    "check_key",
    "check_name",
    "check_pattern",
    "check_segment",
    "check_tag",
    "custom_key",
    "encode_value",
    "flat_key",
    "framework_key",
    "function_prefix",
    "join_segments",
    "memo_retainable",
    "namespace_prefix",
    "retainable",
    "segment_text",
    "segments_text",
    "version_prefix",
    "view_key_text",
    "wildcard_misuse",
]
