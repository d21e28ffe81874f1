"""Settings of the tutorial-style baseline app (bench/baseline/asgi.py): no database, no
auth, no sessions; only the channel layer, in memory (one process) or channels-redis'
RedisChannelLayer with its default configuration (several processes)."""

import os
from typing import Any

SECRET_KEY = "bench-baseline-not-secret"  # noqa: S105 - nothing is signed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, Any] = {}
USE_TZ = True
ASGI_APPLICATION = "bench.baseline.asgi.application"

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
