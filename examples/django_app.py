"""A one-file Django project whose cache is hydracache_sync (Django's API, unchanged).

The only change from a stock project is ``CACHES`` (``BACKEND``; ``LOCATION``
is a Redis URL, or empty for memory only). Run it::

    pip install '.[django,redis]'                       # from the repository's root
    python examples/django_app.py                       # memory only
    HYDRACACHE_REDIS_URL=redis://127.0.0.1:6379/0 python examples/django_app.py

It sends a few requests through Django's test client and prints what the
cache did: ``cache_page`` serves the second request, ``get_or_set`` runs the
expensive call once for 8 concurrent requests, and ``incr`` counts visits
atomically.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-0123456789abcdef"),
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    CACHES={
        "default": {
            "BACKEND": "hydracache_sync.django.HydraCacheBackend",
            "LOCATION": os.environ.get("HYDRACACHE_REDIS_URL", ""),
            "OPTIONS": {"PREFIX": os.environ.get("HYDRACACHE_PREFIX", "example:")},
            "KEY_PREFIX": "site",
        }
    },
)
django.setup()

from django.core.cache import cache  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.cache import cache_page  # noqa: E402

CALLS = {"report": 0, "page": 0}


def build_report() -> dict[str, int]:
    """The expensive call: 200 ms."""
    CALLS["report"] += 1
    time.sleep(0.2)
    return {"total": 42}


def report(request: HttpRequest) -> JsonResponse:
    """``get_or_set`` with a callable: one call however many requests miss."""
    return JsonResponse(cache.get_or_set("report", build_report, timeout=60))


@cache_page(60)
def page(request: HttpRequest) -> HttpResponse:
    """A whole page cached by Django's own decorator."""
    CALLS["page"] += 1
    return HttpResponse(f"rendered {CALLS['page']} time(s)")


def visit(request: HttpRequest) -> JsonResponse:
    """``add`` then ``incr``: an atomic counter."""
    cache.add("visits", 0, timeout=None)
    return JsonResponse({"visits": cache.incr("visits")})


urlpatterns = [path("report", report), path("page", page), path("visit", visit)]


def main() -> int:
    """Send the requests and print what happened."""
    cache.clear()
    client = Client()
    tier = "memory + redis" if settings.CACHES["default"]["LOCATION"] else "memory"
    print(f"cache: {tier}")
    pages = [client.get("/page").content.decode() for _ in range(2)]
    print(f"page: {pages[0]!r} then {pages[1]!r}")
    barrier = threading.Barrier(8)

    def fetch() -> None:
        barrier.wait()
        Client().get("/report")

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"report: 8 concurrent requests, {CALLS['report']} call(s)")
    visits = [client.get("/visit").json()["visits"] for _ in range(3)]
    print(f"visits: {visits}")
    cache.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
