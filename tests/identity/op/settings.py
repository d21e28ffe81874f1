"""Settings of the test OpenID Provider (its own process and database; see __init__)."""

import os

SECRET_KEY = "op-test-secret-key-not-for-production"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oidc_provider",
    "tests.identity.op",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tests.identity.op.hooks.TamperMiddleware",
]
ROOT_URLCONF = "tests.identity.op.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("OP_DB", "op.db")}
}
# The chat runs on the same host (127.0.0.1, another port) and cookies ignore ports:
# other names keep the two sessions apart.
SESSION_COOKIE_NAME = "op_sessionid"
CSRF_COOKIE_NAME = "op_csrftoken"
LOGIN_URL = "/login/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; a test server

SITE_URL = os.environ.get("OP_SITE_URL", "http://127.0.0.1:8001")
OIDC_IDTOKEN_INCLUDE_CLAIMS = True  # name and email in the ID token, as most providers do
OIDC_USERINFO = "tests.identity.op.hooks.userinfo"
OIDC_IDTOKEN_PROCESSING_HOOK = "tests.identity.op.hooks.idtoken_hook"
