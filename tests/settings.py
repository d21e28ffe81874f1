"""Test settings: the production settings module, fed a test environment.

DATABASE_URL picks the engine (tests/__main__.py runs the ORM tests on PostgreSQL and
SQLite); SQLite uses a file so real daphne processes started by a test share it.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("REDIS_URL", "")  # in-process tests use the in-memory layer
# A second factor is required only by the tests that say so (tests/identity/).
os.environ.setdefault("CHAT_2FA_REQUIRED", "none")

from chatsite.settings import *  # noqa: F403
from chatsite.settings import DATABASES

TEST_SQLITE_PATH = Path(tempfile.gettempdir()) / f"chat-test-{os.getpid()}.sqlite3"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(TEST_SQLITE_PATH)}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "tests.postgresql"  # flushes with DELETE: see there

# Production's password hash, each one computed once per test process: see tests/hashers.py.
PASSWORD_HASHERS = ["tests.hashers.CachedPBKDF2PasswordHasher"]

STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}

# Channels' in-process tests import chatsite.asgi; only real daphne processes (which use
# chatsite.settings) start a job runner. tests/test_jobs.py starts its own.
CHAT_JOB_INPROCESS_AUTOSTART = False
