"""Run the test provider: `python -m tests.identity.op PORT` with OP_DB (its SQLite
file), OP_SITE_URL (http://127.0.0.1:PORT) and OP_CONFIG (JSON: "clients" with
client_id, client_secret, redirect_uris; "users" with username, password, email,
first_name, last_name, groups). Migrates, makes a signing key, the clients and users,
then serves until stopped."""

import json
import os
import sys

import django
from django.core.management import call_command


def provision(config: dict[str, list[dict[str, object]]]) -> None:
    from django.contrib.auth.models import Group, User
    from oidc_provider.models import Client, ResponseType, RSAKey

    if not RSAKey.objects.exists():
        call_command("creatersakey", verbosity=0)
    for spec in config.get("clients", []):
        client, _ = Client.objects.update_or_create(
            client_id=str(spec["client_id"]),
            defaults={
                "name": "chat",
                "client_type": "confidential",
                "client_secret": str(spec["client_secret"]),
                "jwt_alg": "RS256",
                "require_consent": False,
            },
        )
        uris = spec["redirect_uris"]
        assert isinstance(uris, list)
        client.redirect_uris = [str(uri) for uri in uris]
        client.save()
        client.response_types.add(ResponseType.objects.get(value="code"))
    for spec in config.get("users", []):
        user, _ = User.objects.update_or_create(
            username=str(spec["username"]),
            defaults={
                "email": str(spec.get("email", "")),
                "first_name": str(spec.get("first_name", "")),
                "last_name": str(spec.get("last_name", "")),
            },
        )
        user.set_password(str(spec["password"]))
        user.save()
        groups = spec.get("groups", [])
        assert isinstance(groups, list)
        user.groups.set([Group.objects.get_or_create(name=str(name))[0] for name in groups])


def main() -> None:
    port = int(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.identity.op.settings")
    django.setup()
    call_command("migrate", verbosity=0)
    provision(json.loads(os.environ.get("OP_CONFIG", "{}")))
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main()
