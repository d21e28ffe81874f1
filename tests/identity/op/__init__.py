"""A real OpenID Provider for the SSO tests: a small Django project around
django-oidc-provider, run as its own process (`python -m tests.identity.op`) with its
own SQLite database, on a loopback port. server.py starts it; hooks.py holds the
claims it asserts and the test's levers (tampering, changing a person's name)."""
