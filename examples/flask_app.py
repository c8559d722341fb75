"""A small Flask app whose user pages are cached by hydracache_sync.

Run it (Redis when ``HYDRACACHE_REDIS_URL`` is set, memory only otherwise)::

    pip install '.[flask,redis]'            # from the repository's root
    HYDRACACHE_REDIS_URL=redis://127.0.0.1:6379/0 flask --app examples/flask_app.py run

    curl -i localhost:5000/users/42                     # X-Cache: MISS (slow)
    curl -i localhost:5000/users/42                     # X-Cache: HIT
    curl -X POST localhost:5000/admin/invalidate/42     # drop user 42's pages
    curl localhost:5000/stats                           # the cache's counters

Several workers (``gunicorn -w 4 'flask_app:create_app()'``) share the pages
through Redis; an invalidation in one worker reaches the others' Redis tier at
once and their local copies within ``HYDRACACHE_LOCAL_TTL`` seconds at most.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, jsonify

from hydracache_sync.flask import HydraCacheExtension

hydra = HydraCacheExtension()

# Stand-in for a database: reading a user takes 50 ms.
USERS = {
    1: {"id": 1, "name": "Ada Lovelace"},
    2: {"id": 2, "name": "Alan Turing"},
    42: {"id": 42, "name": "Grace Hopper"},
}
DB_READS: list[int] = []


def load_user(user_id: int) -> dict[str, Any] | None:
    """Read a user from the (slow) database."""
    DB_READS.append(user_id)
    time.sleep(0.05)
    return USERS.get(user_id)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides the settings read from the environment."""
    app = Flask(__name__)
    app.config["HYDRACACHE_REDIS_URL"] = os.environ.get("HYDRACACHE_REDIS_URL")
    app.config["HYDRACACHE_PREFIX"] = os.environ.get("HYDRACACHE_PREFIX", "example:")
    app.config["HYDRACACHE_DEFAULT_TTL"] = 300
    app.config.update(config or {})
    hydra.init_app(app)

    @app.get("/users/<int:user_id>")
    @hydra.cached_view(ttl=60, tags=lambda user_id: ["users", f"user:{user_id}"])
    def user_page(user_id: int) -> Any:
        user = load_user(user_id)
        if user is None:
            return jsonify(error="no such user"), 404  # a 404 is never cached
        return jsonify(user=user, rendered_at=time.time())

    @app.post("/admin/invalidate/<int:user_id>")
    def invalidate_user(user_id: int) -> Any:
        # A real app would check that the caller is an administrator here.
        removed = hydra.cache.invalidate_tag(f"user:{user_id}")
        return jsonify(invalidated=f"user:{user_id}", removed=removed)

    @app.get("/stats")
    def stats() -> Any:
        tiers = ["local", *hydra.cache.tiers]
        return jsonify(tiers=tiers, **hydra.cache.stats().as_dict())

    return app


if __name__ == "__main__":
    create_app().run(debug=True)
