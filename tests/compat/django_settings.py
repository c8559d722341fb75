"""Configure Django once per test process (tests/test_django.py, the peer suite)."""

from __future__ import annotations

import sys
from pathlib import Path

SECRET_KEY = "hydracache-sync-tests-only-secret-key-0123456789"


def configure(peer_suite: Path | None) -> None:
    """Configure settings and set Django up (idempotent).

    With ``peer_suite`` (the dir holding Django's ``cache`` test app), that app
    is installed so its models (``Poll``) get a table.
    """
    import django
    from django.conf import settings

    if settings.configured:
        return
    apps = ["django.contrib.contenttypes", "django.contrib.auth"]
    if peer_suite is not None:
        sys.path.insert(0, str(peer_suite))
        apps.append("cache")
    settings.configure(
        SECRET_KEY=SECRET_KEY,
        INSTALLED_APPS=apps,
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        CACHES={"default": {"BACKEND": "hydracache_sync.django.HydraCacheBackend"}},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        MIDDLEWARE=[],
        ROOT_URLCONF=__name__,
    )
    django.setup()


urlpatterns: list[object] = []
