"""Public API usage that ``mypy --strict`` must accept; never executed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hydracache_sync import (
    CacheOptions,
    CacheStats,
    Cost,
    Expires,
    HydraCache,
    KeyPart,
    TierTTLs,
    Uncached,
    hydra_cache,
)


@dataclasses.dataclass
class User:
    id: int
    name: str


cache = HydraCache.local(max_bytes="16MB", default_ttl=timedelta(minutes=5))

count: int = cache.get_or_load("count", lambda: 1, ttl=60, tags=["t"])
maybe: object = cache.get("count", 0)
cache.set("user:1", User(1, "Ada"), options=CacheOptions.tag("users").with_ttl(30))
plain: int = cache.get_or_load("n", lambda: Uncached(5).value)

users = cache.typed(User, "users")
users.set("1", User(1, "Ada"))
found: User | None = users.get("1")
loaded: User = users.get_or_load("2", lambda: User(2, "Linus"))

builder = cache.key("thumb", KeyPart.hash("https://example.invalid/a.png"))
thumb: object = builder.cost_hint(Cost.CHEAP).expires(Expires.after(hours=1)).get()

audio = cache.namespace("audio").version("v1")
audio.set("track:1", b"...")

stats: CacheStats = cache.stats()
ratio: float = stats.hit_ratio
promotion = TierTTLs(local=30, shared=120)


@hydra_cache(ttl=300, tags=lambda user_id: [f"user:{user_id}"])
def load_profile(user_id: int) -> dict[str, str]:
    return {"id": str(user_id)}


profile: dict[str, str] = load_profile(42)
load_profile.invalidate(42)
key: str = load_profile.cache_key(42)

added: bool = cache.add("visits", 0, ttl=60)
visits: int = cache.incr("visits") + cache.decr("visits", 2, initial=0)
touched: bool = cache.touch("visits", Expires.after(minutes=5))
left: float | None = cache.ttl("visits")
removed: int = cache.delete_many(["visits", "other"])
