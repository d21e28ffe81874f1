"""Settings of the tutorial-style baseline app (bench/baseline/asgi.py): no database, no
auth, no sessions; only the channel layer, in memory (one process) or channels-redis'
RedisChannelLayer with its default configuration (several processes).

With BENCH_BASELINE_DATABASE_URL (and the project's BENCH_BASELINE_SECRET_KEY, so its
sessions decode) it is the tutorial as the Channels tutorial writes it, with
AuthMiddlewareStack, and its clients log in: Django's sessions and users in that
database, nothing else of the project. bench/connect_cost.py's "tutorial+auth" row:
what Channels alone charges for an authenticated connect."""

import os
from typing import Any

SECRET_KEY = os.environ.get("BENCH_BASELINE_SECRET_KEY", "bench-baseline-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, Any] = {}
USE_TZ = True
ASGI_APPLICATION = "bench.baseline.asgi.application"

_DATABASE_URL = os.environ.get("BENCH_BASELINE_DATABASE_URL", "")
AUTHENTICATED = bool(_DATABASE_URL)
if AUTHENTICATED:
    import environ

    INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", *INSTALLED_APPS]
    INSTALLED_APPS.append("django.contrib.sessions")
    DATABASES = {"default": environ.Env.db_url_config(_DATABASE_URL)}
    DATABASES["default"]["CONN_MAX_AGE"] = 60  # as the project keeps its connections

_REDIS_URL = os.environ.get("BENCH_BASELINE_REDIS_URL", "")
if _REDIS_URL:
    CHANNEL_LAYERS: dict[str, Any] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Default config; a prefix only so runs sharing a Redis do not mix.
            "CONFIG": {
                "hosts": [_REDIS_URL],
                "prefix": os.environ.get("BENCH_BASELINE_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
