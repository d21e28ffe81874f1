"""Django settings, read from the environment (see README "Configuration").

Safe defaults exist for a local first run; with DJANGO_DEBUG off, anything that
would be insecure in production (missing secret key, no allowed hosts) stops the
process at start instead of being guessed.

Longer than the ~400 lines a module is kept to, on purpose: it is the one place every
setting is read from the environment, each with its default and a why-comment beside
it (STYLE.md: one settings module); split by topic it would be found in several places.
"""

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from accounts.identity import config as identity_config
from accounts.identity import ldap_config
from chatsite import redis_topology

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
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tasks",
    "django_tasks_db",
    "chat",
    "accounts",
    "notify",
    "integrations",
    "dataport",
    "chatsite.daphne_adapter",  # its system check only (chat.W101-W110)
]

MIDDLEWARE = [
    # First: probes answer whatever Host they carry, unredirected (chat/ops/health.py).
    "chat.ops.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A session that must pass a second factor and has not reaches only its pages.
    "accounts.identity.mfa_gate.SecondFactorGate",
    # Sessions' "last seen" (accounts/identity/sessions_seen.py): no read, a write per 5 min.
    "accounts.identity.sessions_seen.LastSeenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it answers a locked-out login with our page.
    "axes.middleware.AxesMiddleware",
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
# Off by default: channels closes old connections around every database_sync_to_async
# call, so a health check is one more round trip (SELECT 1) before every frame's queries
# (a sixth of the database thread's time under load). Without it, after a database
# restart a stale connection is replaced when it first fails (reads and the batch of
# sends are then run once more, chat/database/outage.py) or, once any thread of the
# process has seen the database fail, before its next use.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DJANGO_CONN_HEALTH_CHECKS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that does not answer (mid-failover) fails a connect within this
    # many seconds instead of holding the database thread; DATABASE_URL's own wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
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

# --- Accounts (accounts/) --------------------------------------------------------------
# Who may sign up: "open" (anyone), "invite" (a valid invitation link, or an email address
# in CHAT_SIGNUP_EMAIL_DOMAINS), "closed" (staff create accounts). The first-run command
# (DJANGO_DEBUG=1) lets a newcomer try the chat alone; a real install is invite-only.
CHAT_SIGNUP: str = env.str("CHAT_SIGNUP", default="open" if DEBUG else "invite")
if CHAT_SIGNUP not in {"open", "invite", "closed"}:
    raise ImproperlyConfigured('CHAT_SIGNUP must be "open", "invite" or "closed".')
# Under "invite": addresses at these domains may sign up without an invitation, through a
# link mailed to them (so the address is proven). E.g. example.com,example.org.
CHAT_SIGNUP_EMAIL_DOMAINS: list[str] = [
    domain.strip().lstrip("@").lower()
    for domain in env.list("CHAT_SIGNUP_EMAIL_DOMAINS", default=[])
    if domain.strip()
]
# Room owners (not only staff) may invite people into the rooms they own.
CHAT_INVITE_ROOM_OWNERS: bool = env.bool("CHAT_INVITE_ROOM_OWNERS", default=False)
# Failed invitation look-ups (guessed or stale links) per client address per hour.
CHAT_INVITE_GUESSES_PER_HOUR: int = env.int("CHAT_INVITE_GUESSES_PER_HOUR", default=30)
# The site's absolute address, for links made outside a request (manage.py invite).
CHAT_SITE_URL: str = env.str(
    "CHAT_SITE_URL", default="http://127.0.0.1:8000" if DEBUG else ""
).rstrip("/")
# Profiles: longest display name; side of the square avatar kept, in pixels.
CHAT_DISPLAY_NAME_MAX_CHARS: int = 50
CHAT_AVATAR_SIDE: int = 128

# Email (password reset, sign-up links): EMAIL_URL in django-environ's form, e.g.
# smtp://user:pass@host:25 (plain), smtp+tls://...:587 (STARTTLS), smtp+ssl://...:465.
if env.str("EMAIL_URL", default=""):
    _email: dict[str, Any] = env.email_url("EMAIL_URL")
    EMAIL_BACKEND: str = _email["EMAIL_BACKEND"]
    EMAIL_HOST: str = _email["EMAIL_HOST"]
    EMAIL_PORT: int = _email["EMAIL_PORT"]
    EMAIL_HOST_USER: str = _email["EMAIL_HOST_USER"] or ""
    EMAIL_HOST_PASSWORD: str = _email["EMAIL_HOST_PASSWORD"] or ""
    EMAIL_USE_TLS: bool = bool(_email.get("EMAIL_USE_TLS", False))
    EMAIL_USE_SSL: bool = bool(_email.get("EMAIL_USE_SSL", False))
    CHAT_EMAIL_CONFIGURED = True
elif DEBUG:
    # First run: emails are printed by the server, nothing is sent.
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    CHAT_EMAIL_CONFIGURED = True
else:
    # Nothing is configured: pages that would mail say so instead of pretending.
    EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    CHAT_EMAIL_CONFIGURED = False
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="chat@localhost")
SERVER_EMAIL: str = DEFAULT_FROM_EMAIL
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3  # a reset link works for three hours

# Failed log-ins (django-axes, database handler: every process sees the same counts).
# An account, and separately a client address, is locked out after this many failures
# within the cool-off time; successful log-ins are never counted and never erase them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Refuses bots before the password is checked: they never log in (tokens only).
    "accounts.backends.NoBotsBackend",
    # CHAT_PASSWORD_LOGIN=off: refuses passwords but the break-glass accounts' (SSO only).
    "accounts.identity.oidc_policy.PasswordLoginPolicyBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT: int = env.int("CHAT_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("CHAT_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # only failures are kept
AXES_CLIENT_IP_CALLABLE = "accounts.limits.request_ip"
AXES_LOCKOUT_CALLABLE = "accounts.password_views.login_locked_out"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

# --- Identity (accounts/identity/, docs/identity.md) -----------------------------------
# OpenID Connect providers: a JSON list of {"id", "name", "issuer", "client_id",
# "client_secret", "scopes"}; each is a "Log in with <name>" button.
CHAT_OIDC_PROVIDERS = identity_config.oidc_providers(env.str("CHAT_OIDC_PROVIDERS", default=""))
# off: no password log-in or sign-up, except for the staff accounts named here.
CHAT_PASSWORD_LOGIN: bool = identity_config.on_off(
    "CHAT_PASSWORD_LOGIN", env.str("CHAT_PASSWORD_LOGIN", default="on")
)
CHAT_BREAK_GLASS_USERS: list[str] = env.list("CHAT_BREAK_GLASS_USERS", default=[])
# Who must have a second factor: none, staff or all.
CHAT_2FA_REQUIRED: str = identity_config.second_factor_rule(
    env.str("CHAT_2FA_REQUIRED", default="none" if DEBUG else "staff")
)
# LDAP / Active Directory log-in (accounts/identity/ldap_config.py), only when
# CHAT_LDAP_URL is set: django-auth-ldap's AUTH_LDAP_* settings, and its backend after
# NoBotsBackend (bots never log in) and before ModelBackend (local accounts still do).
CHAT_LDAP: ldap_config.LdapConfig | None = ldap_config.ldap_config(os.environ)
if CHAT_LDAP is not None:
    globals().update(ldap_config.auth_ldap_settings(CHAT_LDAP))
    AUTHENTICATION_BACKENDS.insert(
        AUTHENTICATION_BACKENDS.index("django.contrib.auth.backends.ModelBackend"),
        ldap_config.BACKEND,
    )
# django-otp (accounts/identity/mfa.py): the name authenticator apps show; its own
# throttles off, because wrong codes count in django-axes' lockout like passwords, one
# rule for both; the admin never shows a device's secret.
OTP_TOTP_ISSUER: str = env.str("CHAT_2FA_ISSUER", default="Chat")
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code"]

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
            else "chatsite.storage.ChatStaticFilesStorage"
        )
    },
}

# --- Uploaded images (chat/content/images.py) ----------------------------------------------------
# Written through the storage API (STORAGES["default"]): a deployment can switch to object
# storage. Never served from MEDIA_URL by the app: /api/attachments/<id>/ checks access.
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
# Largest image upload in bytes; a bigger request is refused with 413 before it is read.
CHAT_IMAGE_MAX_BYTES: int = env.int("CHAT_IMAGE_MAX_BYTES", default=10 * 1024 * 1024)
# Largest image in pixels (width x height), checked from the header before decoding.
CHAT_IMAGE_MAX_PIXELS: int = env.int("CHAT_IMAGE_MAX_PIXELS", default=40_000_000)
# Longest side of a thumbnail, in pixels.
CHAT_THUMBNAIL_MAX_SIDE: int = env.int("CHAT_THUMBNAIL_MAX_SIDE", default=320)
# Largest file upload (POST /api/rooms/<slug>/files/), in bytes: refused from
# Content-Length, and while streaming by chat.content.uploads.SizeLimitUploadHandler.
CHAT_FILE_MAX_BYTES: int = env.int("CHAT_FILE_MAX_BYTES", default=25 * 1024 * 1024)
# Larger request bodies and uploaded files are spooled to a temporary file, not held in
# memory; a stored file is then moved or copied in chunks (the storage API).
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
FILE_UPLOAD_HANDLERS = [
    "chat.content.uploads.SizeLimitUploadHandler",  # first: stops a too large file mid-stream
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Most distinct emoji on one message (a member may add several of them).
CHAT_REACTIONS_MAX_PER_MESSAGE: int = env.int("CHAT_REACTIONS_MAX_PER_MESSAGE", default=20)

# --- HTTP API (chat/api/) ------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    # Bearer first: its authenticate_header makes an unauthenticated call a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "chat.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "chat.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Chat API",
    "DESCRIPTION": (
        "Post and read messages over HTTP; every WebSocket client in the room receives "
        "them live (docs/api.md, docs/protocol.md)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from the drf-spectacular-sidecar package: no CDN, allowed by the CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A message's kind appears in Message and SearchResult: one enum for both.
    "ENUM_NAME_OVERRIDES": {"MessageKindEnum": ["user", "system"]},
}

# --- Channel layer -------------------------------------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")
# Set by the deploy/ units for a process that is one of several: each needs the shared
# PostgreSQL and Redis, and a forgotten URL must stop it rather than split the chat into
# processes that cannot see each other's messages (SQLite file, in-memory layer).
CHAT_MULTIPROCESS: bool = env.bool("CHAT_MULTIPROCESS", default=False)
if CHAT_MULTIPROCESS and not REDIS_URL:
    raise ImproperlyConfigured("CHAT_MULTIPROCESS is set: REDIS_URL is required.")
if CHAT_MULTIPROCESS and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "CHAT_MULTIPROCESS is set: DATABASE_URL must be postgres://<user>@<host>:<port>/<name>."
    )
# Prefix of every Redis key and channel this install uses (several installs, one Redis).
CHAT_LAYER_PREFIX: str = env.str("CHAT_LAYER_PREFIX", default="chat")
# Redis client pool for the channel layer. redis-py 8 caps an asyncio pool at 100
# connections and raises MaxConnectionsError past it; the cap is raised and made a
# setting. Connect/IO timeouts stay finite so a dead Redis is noticed, not waited on.
REDIS_MAX_CONNECTIONS: int = env.int("REDIS_MAX_CONNECTIONS", default=1000)
# Where Redis is (chatsite/redis_topology.py, the one rule every client follows): the
# sentinels to ask for the current primary (REDIS_URL then gives password and db), and
# the channel layer's own shards.
try:
    REDIS_SENTINELS: redis_topology.Sentinels | None = redis_topology.sentinels_parse(
        env.str("REDIS_SENTINELS", default=""), env.str("REDIS_SENTINEL_MASTER", default="")
    )
    CHAT_LAYER_REDIS_URLS: list[str] = redis_topology.layer_urls_parse(
        env.str("CHAT_LAYER_REDIS_URLS", default="")
    )
    if REDIS_SENTINELS and REDIS_URL:
        redis_topology.server_options(REDIS_URL)  # a URL the sentinel pools can read
except ValueError as _error:
    raise ImproperlyConfigured(str(_error)) from None
if (REDIS_SENTINELS or CHAT_LAYER_REDIS_URLS) and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_SENTINELS and CHAT_LAYER_REDIS_URLS need REDIS_URL too.")
if REDIS_SENTINELS and CHAT_LAYER_REDIS_URLS:
    raise ImproperlyConfigured("CHAT_LAYER_REDIS_URLS does not go with REDIS_SENTINELS.")
_redis_hosts = redis_topology.layer_hosts(
    REDIS_URL,
    REDIS_SENTINELS,
    CHAT_LAYER_REDIS_URLS,
    max_connections=REDIS_MAX_CONNECTIONS,
    socket_connect_timeout=5,
    socket_keepalive=True,
    health_check_interval=15,
    retry_on_timeout=True,
)
IN_MEMORY_LAYER: dict[str, Any] = {
    "BACKEND": "channels.layers.InMemoryChannelLayer",
    # The hub joins its groups once, for the life of the process: with channels'
    # default group_expiry (a day) it would stop hearing of new messages after a day
    # up. One process: no member of a dead process can linger.
    "CONFIG": {"capacity": 1000, "expiry": 60, "group_expiry": 10 * 365 * 86400},
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
            "CONFIG": {"hosts": _redis_hosts, "prefix": CHAT_LAYER_PREFIX},
        }
    }
elif REDIS_URL and CHAT_REDIS_LAYER == "core":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # No socket timeout: with redis-py's default of 5 s, BZPOPMIN's 5 s wait
                # times out and idle consumers die with 1011.
                "hosts": [{**host, "socket_timeout": None} for host in _redis_hosts],
                "prefix": CHAT_LAYER_PREFIX,
                "capacity": env.int("CHAT_LAYER_CAPACITY", default=1000),
            },
        }
    }
elif REDIS_URL:
    raise ImproperlyConfigured('CHAT_REDIS_LAYER must be "pubsub" or "core".')
else:
    CHANNEL_LAYERS = {"default": IN_MEMORY_LAYER}

# --- Chat limits ---------------------------------------------------------------------
CHAT_MAX_BODY_CHARS: int = env.int("CHAT_MAX_BODY_CHARS", default=4000)
CHAT_HISTORY_LIMIT: int = env.int("CHAT_HISTORY_LIMIT", default=50)
# PostgreSQL text search configuration for message search (with "simple" beside it, so
# names and code match as written). Read by migration 0009_search, which builds the
# index for it: after changing it, rebuild that index (docs/deployment.md).
CHAT_SEARCH_CONFIG: str = env.str("CHAT_SEARCH_CONFIG", default="english")
if not re.fullmatch(r"[a-z_]{1,63}", CHAT_SEARCH_CONFIG):
    raise ImproperlyConfigured("CHAT_SEARCH_CONFIG must be a text search configuration name.")
# Retention (dataport/retention.py): messages older than this many days are deleted by
# a daily job, with their files, reactions, edits and mentions. Empty: kept forever.
# A room may keep less (its owner) or any other span (staff): Room.retention_days.
CHAT_RETENTION_DAYS: int | None = env.int("CHAT_RETENTION_DAYS", default=None)
if CHAT_RETENTION_DAYS is not None and CHAT_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("CHAT_RETENTION_DAYS must be at least 1 (empty: keep forever).")
# Most messages a resuming client (?after=) gets in `hello`; past it, it pages.
CHAT_RESUME_LIMIT: int = env.int("CHAT_RESUME_LIMIT", default=500)
# How often each process checks its rooms' committed seq to catch up connections
# whose channel-layer events were lost (a Redis restart, a dropped publish).
CHAT_SYNC_INTERVAL_SECONDS: float = env.float("CHAT_SYNC_INTERVAL_SECONDS", default=1.0)
# Most sends one transaction saves together (group commit, chat/database/group_commit.py): the sends
# that arrive while the previous batch is being written share the next one.
CHAT_WRITE_BATCH_MAX: int = env.int("CHAT_WRITE_BATCH_MAX", default=200)
# Threads per process that run reads (connects, history, gap fills) beside the one
# database thread that writes (chat/database/dbcalls.py); 0: reads share the writing thread.
CHAT_DB_READ_THREADS: int = env.int("CHAT_DB_READ_THREADS", default=4)
# On SIGTERM: the longest wait for the frames being handled (their sends saved and
# answered) and for the write batch in flight; the sockets are then closed at once.
CHAT_SHUTDOWN_TIMEOUT_SECONDS: float = env.float("CHAT_SHUTDOWN_TIMEOUT_SECONDS", default=10.0)
# Under daphne: the listen backlog of each TCP/UNIX endpoint without its own `backlog=`
# (Twisted's default is 50; the kernel caps it at net.core.somaxconn). 0: Twisted's.
CHAT_LISTEN_BACKLOG: int = env.int("CHAT_LISTEN_BACKLOG", default=1024)
# On SIGTERM: the reconnects per second the processes that stay can take; the 1012 close
# asks clients to spread theirs over (sockets closed / this) seconds, 3 to 60.
CHAT_RESTART_RECONNECTS_PER_SECOND: float = env.float(
    "CHAT_RESTART_RECONNECTS_PER_SECOND", default=250.0
)
# Under daphne: WebSocket handshakes in progress per process (upgrade to accept) before
# more are answered 503 at once, so a reconnect flood does not queue past the clients'
# timeouts. 0: no limit.
CHAT_MAX_OPENING_HANDSHAKES: int = env.int("CHAT_MAX_OPENING_HANDSHAKES", default=100)
# A process that dies without cleanup: its users leave the online lists within this.
CHAT_PRESENCE_TIMEOUT_SECONDS: float = env.float("CHAT_PRESENCE_TIMEOUT_SECONDS", default=60.0)
# How often each process checks the login sessions and accounts behind its open sockets
# (closing those ended without Django's auth: a bulk delete, clearsessions, expiry). A
# session is closed when two checks in a row find it ended: within twice this.
CHAT_SESSION_CHECK_SECONDS: float = env.float("CHAT_SESSION_CHECK_SECONDS", default=20.0)
# Under daphne: how long a thread may hold the GIL while another waits for it (Python's
# default is 0.005). See chatsite/daphne_adapter/__init__.py.
CHAT_GIL_SWITCH_INTERVAL_SECONDS: float = env.float(
    "CHAT_GIL_SWITCH_INTERVAL_SECONDS", default=0.0005
)
# Under daphne: the cyclic garbage collector's youngest-generation threshold (Python's
# default is 700), and what was loaded at start is frozen out of its scans; 0 keeps
# Python's defaults. See chatsite/daphne_adapter/__init__.py.
CHAT_GC_GEN0_THRESHOLD: int = env.int("CHAT_GC_GEN0_THRESHOLD", default=50_000)
# hello.online names at most this many users (hello.online_count has them all), so a
# connect into a big room costs the same as into a small one.
CHAT_HELLO_ONLINE_LIMIT: int = env.int("CHAT_HELLO_ONLINE_LIMIT", default=100)
# Presence changes are gathered for this long and sent as one frame per room (0: at once).
CHAT_PRESENCE_BATCH_SECONDS: float = env.float("CHAT_PRESENCE_BATCH_SECONDS", default=0.1)
# Typing indicators: a client may send one per this interval; others show it this long.
CHAT_TYPING_MIN_INTERVAL_SECONDS: float = env.float("CHAT_TYPING_MIN_INTERVAL_SECONDS", default=1.0)
CHAT_TYPING_EXPIRES_SECONDS: float = 5.0
# Close connections that send nothing for this long with 4408 (0: never).
CHAT_IDLE_TIMEOUT_SECONDS: float = env.float("CHAT_IDLE_TIMEOUT_SECONDS", default=0.0)

# --- Abuse limits (chat/limits/policy.py) ---------------------------------------------------
# Shared by every process through Redis when REDIS_URL is set, per process otherwise.
# A zero turns that limit off.
# message.send per user, a token bucket: this many at once, refilled at this rate.
CHAT_MESSAGE_BURST: int = env.int("CHAT_MESSAGE_BURST", default=10)
CHAT_MESSAGE_RATE_PER_SECOND: float = env.float("CHAT_MESSAGE_RATE_PER_SECOND", default=3.0)
# More than this many rate-limited sends by one user within the window: closed with 4429.
CHAT_FLOOD_MAX_REJECTED: int = env.int("CHAT_FLOOD_MAX_REJECTED", default=20)
CHAT_FLOOD_WINDOW_SECONDS: int = env.int("CHAT_FLOOD_WINDOW_SECONDS", default=10)
# Searches per user (GET /api/search/), a token bucket like message.send's.
CHAT_SEARCH_BURST: int = env.int("CHAT_SEARCH_BURST", default=10)
CHAT_SEARCH_RATE_PER_SECOND: float = env.float("CHAT_SEARCH_RATE_PER_SECOND", default=1.0)
# People searches per user (GET /api/users/?q=: the DM picker asks as one types).
CHAT_PEOPLE_BURST: int = env.int("CHAT_PEOPLE_BURST", default=30)
CHAT_PEOPLE_RATE_PER_SECOND: float = env.float("CHAT_PEOPLE_RATE_PER_SECOND", default=3.0)
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
# Django's database sessions, read with one plain statement (accounts/session_db.py).
SESSION_ENGINE = "accounts.session_db"
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

# --- Observability (chat/ops/observability.py, chat/ops/health.py) ------------------------------
# /metrics answers only when one of these is set (404 otherwise); with both, both must
# match. The client address is taken as for WebSockets (CHAT_TRUSTED_PROXIES).
CHAT_METRICS_TOKEN: str = env.str("CHAT_METRICS_TOKEN", default="")
CHAT_METRICS_ALLOWED_IPS: list[str] = env.list("CHAT_METRICS_ALLOWED_IPS", default=[])
try:
    for _network in CHAT_METRICS_ALLOWED_IPS:
        ipaddress.ip_network(_network, strict=False)
except ValueError as _error:
    raise ImproperlyConfigured(
        f"CHAT_METRICS_ALLOWED_IPS must list IP addresses or networks: {_error}"
    ) from None
# "plain" (one text line per record) or "json" (one JSON object per line, for shippers).
CHAT_LOG_FORMAT: str = env.str("CHAT_LOG_FORMAT", default="plain")
if CHAT_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured('CHAT_LOG_FORMAT must be "plain" or "json".')

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": CHAT_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", "INFO")},
    # axes logs every log-in at INFO; failures and lockouts are WARNING.
    "loggers": {"django.channels.server": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}


# Notifications (notify/, docs/protocol.md "Notifications").
# @room in a room with more members than this: only its owner and staff may use it.
CHAT_ROOM_MENTION_MAX_MEMBERS: int = env.int("CHAT_ROOM_MENTION_MAX_MEMBERS", default=50)
# A mention or direct message unread this long is gathered into one email.
CHAT_EMAIL_MISSED_DELAY_SECONDS: int = env.int("CHAT_EMAIL_MISSED_DELAY_SECONDS", default=600)
# Web Push (VAPID): `python manage.py vapid_keys` prints a pair for the environment.
# Without them the page offers no push subscription (browser notifications still work).
CHAT_VAPID_PUBLIC_KEY: str = env.str("CHAT_VAPID_PUBLIC_KEY", default="")
CHAT_VAPID_PRIVATE_KEY: str = env.str("CHAT_VAPID_PRIVATE_KEY", default="")
CHAT_VAPID_SUBJECT: str = env.str("CHAT_VAPID_SUBJECT", default="mailto:" + DEFAULT_FROM_EMAIL)
# The server POSTs to the endpoint a browser registers, so only https to a public host
# name is accepted (notify/subscriptions.py). Hosts listed here are exempt (http and
# local addresses allowed): a push service on the local network, the tests' stand-in.
CHAT_PUSH_ALLOW_HOSTS: list[str] = env.list("CHAT_PUSH_ALLOW_HOSTS", default=[])

# --- integrations: commands ---
# How long a custom slash command's server has to answer (Slack's 3 s); past it the
# caller sees an ephemeral explanation. Its response_url stays good for 30 minutes.
CHAT_COMMAND_TIMEOUT_SECONDS: float = env.float("CHAT_COMMAND_TIMEOUT_SECONDS", default=3.0)

# --- integrations: outgoing webhooks ---
# Deliveries go only to public addresses (chat/ops/egress.py: no loopback, private,
# link-local/metadata ranges); hosts listed here are exempt (a receiver on the local
# network, the tests' 127.0.0.1).
CHAT_WEBHOOK_ALLOW_HOSTS: list[str] = env.list("CHAT_WEBHOOK_ALLOW_HOSTS", default=[])
# Seconds before each of the 3 retries of a delivery that met a 5xx, a timeout or a
# connection error (through the job queue, so a restart keeps them).
CHAT_WEBHOOK_RETRY_SECONDS: list[float] = [
    float(s) for s in env.list("CHAT_WEBHOOK_RETRY_SECONDS", default=["10", "60", "300"])
]
if len(CHAT_WEBHOOK_RETRY_SECONDS) != 3 or min(CHAT_WEBHOOK_RETRY_SECONDS) < 0:
    raise ImproperlyConfigured("CHAT_WEBHOOK_RETRY_SECONDS must be 3 non-negative numbers.")

# --- integrations: incoming webhooks and bots (integrations/incoming.py) ---
# A hook's request body larger than this is answered 413 before it is read.
CHAT_WEBHOOK_MAX_BYTES: int = env.int("CHAT_WEBHOOK_MAX_BYTES", default=256 * 1024)
# Each incoming hook's token bucket (shared by all processes through Redis): this many
# posts at once, refilled at this rate; past it, 429 with Retry-After. Burst 0: no limit.
CHAT_WEBHOOK_BURST: int = env.int("CHAT_WEBHOOK_BURST", default=30)
CHAT_WEBHOOK_RATE_PER_SECOND: float = env.float("CHAT_WEBHOOK_RATE_PER_SECOND", default=1.0)
# Members of a public room may add its incoming hooks on its integrations page (staff
# and a private room's owner always may).
CHAT_WEBHOOKS_MEMBERS_MAY_CREATE: bool = env.bool("CHAT_WEBHOOKS_MEMBERS_MAY_CREATE", default=False)
# Host names (or "*.example.com") whose https images the page may show: a hook's
# `icon_url` on one of them is its message's avatar; any other falls back to the
# hook's own. Each is added to the CSP's img-src.
CHAT_AVATAR_HOSTS: list[str] = [
    host.strip().lower() for host in env.list("CHAT_AVATAR_HOSTS", default=[]) if host.strip()
]
CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"] += [f"https://{h}" for h in CHAT_AVATAR_HOSTS]

# Background jobs: Django's tasks API (django-tasks backport) on its database backend.
# CHAT_JOB_WORKER "inprocess" (default): every daphne process also runs due jobs in a
# thread, so `daphne chatsite.asgi:application` alone is enough; "separate": only
# `python manage.py chat_worker` runs them (deploy/ has its unit).
CHAT_JOB_WORKER: str = env.str("CHAT_JOB_WORKER", default="inprocess")
if CHAT_JOB_WORKER not in {"inprocess", "separate"}:
    raise ImproperlyConfigured('CHAT_JOB_WORKER must be "inprocess" or "separate".')
# A job claimed by a runner that has not beaten its heart for this long goes back to
# the queue (its process was killed); runners beat every third of it.
CHAT_JOB_LEASE_SECONDS: float = env.float("CHAT_JOB_LEASE_SECONDS", default=30.0)
CHAT_JOB_POLL_SECONDS: float = env.float("CHAT_JOB_POLL_SECONDS", default=1.0)
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
