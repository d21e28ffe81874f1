"""Django settings, read from the environment (see README "Configuration").

Safe defaults exist for a local first run; with DJANGO_DEBUG off, anything that
would be insecure in production (missing secret key, no allowed hosts) stops the
process at start instead of being guessed.
"""

import ipaddress
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# Lets generic admin/form classes be subscripted at run time, as the type checker wants.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG: bool = env.bool("DJANGO_DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Set it to a long random string "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))'), "
        "or set DJANGO_DEBUG=1 for a local development run."
    )

ALLOWED_HOSTS: list[str] = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is not set. Set it to the comma-separated host names "
        "the chat is served under (e.g. chat.example.com)."
    )
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "csp",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "chatsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "chatsite.asgi.application"

_SUPPORTED_DATABASES = {"django.db.backends.sqlite3", "django.db.backends.postgresql"}
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"].get("ENGINE") not in _SUPPORTED_DATABASES:
    raise ImproperlyConfigured(
        "DATABASE_URL must be sqlite:///<path> or postgres://<user>@<host>:<port>/<name>."
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so
    # two processes saving at once wait (busy_timeout) instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES: dict[str, Any] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Channel layer -------------------------------------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")
# Prefix of every Redis key and channel this install uses (several installs, one Redis).
CHAT_LAYER_PREFIX: str = env.str("CHAT_LAYER_PREFIX", default="chat")
# Redis client pool for the channel layer. redis-py 8 caps an asyncio pool at 100
# connections and raises MaxConnectionsError past it; the cap is raised and made a
# setting. Connect/IO timeouts stay finite so a dead Redis is noticed, not waited on.
REDIS_MAX_CONNECTIONS: int = env.int("REDIS_MAX_CONNECTIONS", default=1000)
_redis_host: dict[str, Any] = {
    "address": REDIS_URL,
    "max_connections": REDIS_MAX_CONNECTIONS,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 15,
    "retry_on_timeout": True,
}
# "pubsub" (default) or "core" (channels-redis RedisChannelLayer: per-member lists with
# a capacity; kept selectable because deployments already running it can keep it).
CHAT_REDIS_LAYER: str = env.str("CHAT_REDIS_LAYER", default="pubsub")
if REDIS_URL and CHAT_REDIS_LAYER == "pubsub":
    CHANNEL_LAYERS: dict[str, Any] = {
        "default": {
            # Pub/sub: one PUBLISH per group send and a process-wide subscription, rather
            # than one list per member polled with BZPOPMIN (see docs/architecture.md).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_redis_host], "prefix": CHAT_LAYER_PREFIX},
        }
    }
elif REDIS_URL and CHAT_REDIS_LAYER == "core":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # No socket timeout: with redis-py's default of 5 s, BZPOPMIN's 5 s wait
                # times out and idle consumers die with 1011.
                "hosts": [{**_redis_host, "socket_timeout": None}],
                "prefix": CHAT_LAYER_PREFIX,
                "capacity": env.int("CHAT_LAYER_CAPACITY", default=1000),
            },
        }
    }
elif REDIS_URL:
    raise ImproperlyConfigured('CHAT_REDIS_LAYER must be "pubsub" or "core".')
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000, "expiry": 60},
        }
    }

# --- Chat limits ---------------------------------------------------------------------
CHAT_MAX_BODY_CHARS: int = env.int("CHAT_MAX_BODY_CHARS", default=4000)
CHAT_HISTORY_LIMIT: int = env.int("CHAT_HISTORY_LIMIT", default=50)
# Most messages a resuming client (?after=) gets in `hello`; past it, it pages.
CHAT_RESUME_LIMIT: int = env.int("CHAT_RESUME_LIMIT", default=500)
# How often each process checks its rooms' committed seq to catch up connections
# whose channel-layer events were lost (a Redis restart, a dropped publish).
CHAT_SYNC_INTERVAL_SECONDS: float = env.float("CHAT_SYNC_INTERVAL_SECONDS", default=1.0)
# On SIGTERM: how long to wait for in-flight frames and close handshakes.
CHAT_SHUTDOWN_TIMEOUT_SECONDS: float = env.float("CHAT_SHUTDOWN_TIMEOUT_SECONDS", default=10.0)
# A process that dies without cleanup: its users leave the online lists within this.
CHAT_PRESENCE_TIMEOUT_SECONDS: float = env.float("CHAT_PRESENCE_TIMEOUT_SECONDS", default=60.0)
# Typing indicators: a client may send one per this interval; others show it this long.
CHAT_TYPING_MIN_INTERVAL_SECONDS: float = env.float("CHAT_TYPING_MIN_INTERVAL_SECONDS", default=1.0)
CHAT_TYPING_EXPIRES_SECONDS: float = 5.0
# Close connections that send nothing for this long with 4408 (0: never).
CHAT_IDLE_TIMEOUT_SECONDS: float = env.float("CHAT_IDLE_TIMEOUT_SECONDS", default=0.0)

# --- Abuse limits (chat/limits.py) ---------------------------------------------------
# Shared by every process through Redis when REDIS_URL is set, per process otherwise.
# A zero turns that limit off.
# message.send per user, a token bucket: this many at once, refilled at this rate.
CHAT_MESSAGE_BURST: int = env.int("CHAT_MESSAGE_BURST", default=10)
CHAT_MESSAGE_RATE_PER_SECOND: float = env.float("CHAT_MESSAGE_RATE_PER_SECOND", default=3.0)
# More than this many rate-limited sends by one user within the window: closed with 4429.
CHAT_FLOOD_MAX_REJECTED: int = env.int("CHAT_FLOOD_MAX_REJECTED", default=20)
CHAT_FLOOD_WINDOW_SECONDS: int = env.int("CHAT_FLOOD_WINDOW_SECONDS", default=10)
# Open chat connections, counted across processes; past a cap: accepted, closed with 4429.
CHAT_MAX_CONNECTIONS_PER_USER: int = env.int("CHAT_MAX_CONNECTIONS_PER_USER", default=20)
CHAT_MAX_CONNECTIONS_PER_IP: int = env.int("CHAT_MAX_CONNECTIONS_PER_IP", default=50)
# WebSocket connection attempts per client IP in any 60 s (a moving window).
CHAT_CONNECT_ATTEMPTS_PER_MINUTE: int = env.int("CHAT_CONNECT_ATTEMPTS_PER_MINUTE", default=60)
# Peers (IPs or networks) whose X-Forwarded-For is believed: its last hop is the client.
CHAT_TRUSTED_PROXIES: list[str] = env.list("CHAT_TRUSTED_PROXIES", default=[])
# Largest WebSocket frame/message a client may send, in bytes (daphne refuses bigger ones
# with 1009; the consumer answers frame_too_large elsewhere).
CHAT_MAX_FRAME_BYTES: int = env.int("CHAT_MAX_FRAME_BYTES", default=64 * 1024)
if CHAT_MESSAGE_BURST > 0 and CHAT_MESSAGE_RATE_PER_SECOND <= 0:
    raise ImproperlyConfigured(
        "CHAT_MESSAGE_RATE_PER_SECOND must be positive (or CHAT_MESSAGE_BURST=0 to turn "
        "the message rate limit off)."
    )
if CHAT_FLOOD_MAX_REJECTED > 0 and CHAT_FLOOD_WINDOW_SECONDS <= 0:
    raise ImproperlyConfigured("CHAT_FLOOD_WINDOW_SECONDS must be a positive whole number.")
try:
    for _proxy in CHAT_TRUSTED_PROXIES:
        ipaddress.ip_network(_proxy, strict=False)
except ValueError as _error:
    raise ImproperlyConfigured(
        f"CHAT_TRUSTED_PROXIES must list IP addresses or networks: {_error}"
    ) from None

# --- Security ------------------------------------------------------------------------
# Production behind TLS: see README "Production". Off by default for a local first run.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE: bool = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE: bool = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT: bool = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS: int = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD: bool = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Behind a TLS-terminating proxy that sets this header (e.g. X-Forwarded-Proto) to
# "https" and strips it from clients: requests it marks are treated as secure. Only set
# it when every request comes through that proxy.
_proxy_ssl_header: str = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _proxy_ssl_header.upper().replace("-", "_"),
        "https",
    )
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# django-csp 4: no inline or foreign script, style, frame or plugin on any page (the
# chat pages and the admin load everything from files). connect-src 'self' covers the
# page's own ws:/wss: origin in CSP level 3 browsers.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
