"""A Flask-Caching app moved onto hydracache_sync with one configuration line.

The app keeps ``flask_caching.Cache``, ``@cache.cached``, ``@cache.memoize``
and ``delete_memoized``; only ``CACHE_TYPE`` changes. Run it::

    pip install '.[flask-caching,redis]'                # from the repository's root
    python examples/flask_caching_app.py                # memory only
    HYDRACACHE_REDIS_URL=redis://127.0.0.1:6379/0 python examples/flask_caching_app.py

It sends a few requests through Flask's test client and prints what the cache
did; 8 concurrent cold requests run the memoized call once (single-flight,
which Flask-Caching's own backends do not offer).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from flask import Flask, jsonify
from flask_caching import Cache

cache = Cache()
CALLS = {"price": 0, "home": 0}


@cache.memoize(timeout=60)
def price(product: int) -> int:
    """The expensive call: 200 ms."""
    CALLS["price"] += 1
    time.sleep(0.2)
    return product * 100


def create_app() -> Flask:
    """Build the app; the Redis tier is used when HYDRACACHE_REDIS_URL is set."""
    app = Flask(__name__)
    app.config.update(
        CACHE_TYPE="hydracache_sync.flask_caching.HydraCache",  # the one change
        CACHE_REDIS_URL=os.environ.get("HYDRACACHE_REDIS_URL"),
        CACHE_KEY_PREFIX="shop:",
        CACHE_DEFAULT_TIMEOUT=300,
        HYDRACACHE_PREFIX=os.environ.get("HYDRACACHE_PREFIX", "example:"),
    )
    cache.init_app(app)

    @app.get("/")
    @cache.cached(timeout=30)
    def home() -> str:
        CALLS["home"] += 1
        return f"home rendered {CALLS['home']} time(s)"

    @app.get("/price/<int:product>")
    def product_price(product: int) -> Any:
        return jsonify(price=price(product))

    @app.post("/price/<int:product>/refresh")
    def refresh(product: int) -> Any:
        cache.delete_memoized(price, product)
        return jsonify(refreshed=product)

    return app


def main() -> int:
    """Send the requests and print what happened."""
    app = create_app()
    client = app.test_client()
    tier = "memory + redis" if app.config["CACHE_REDIS_URL"] else "memory"
    print(f"cache: {tier}")
    with app.app_context():
        cache.clear()
    homes = [client.get("/").get_data(as_text=True) for _ in range(2)]
    print(f"home: {homes[0]!r} then {homes[1]!r}")
    barrier = threading.Barrier(8)

    def fetch() -> None:
        barrier.wait()
        app.test_client().get("/price/7")

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"price: 8 concurrent requests, {CALLS['price']} call(s)")
    client.post("/price/7/refresh")
    client.get("/price/7")
    print(f"after delete_memoized: {CALLS['price']} call(s)")
    with app.app_context():
        cache.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
