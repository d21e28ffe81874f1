"""LDAP / Active Directory against a real slapd (tests/identity/slapd.py): log-in through
the page's password form, staff from the directory's group, disabled entries refused,
and ldap_sync deactivating the accounts gone or disabled (the socket side is in
test_ldap_sockets.py)."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.identity import ldap_config, ldap_jobs, ldap_sync
from chat.models import AuditLog
from tests.conftest import TEST_PASSWORD
from tests.identity import ldap_fixtures
from tests.identity.ldap_fixtures import configure
from tests.identity.slapd import PASSWORDS, PEOPLE, Slapd

pytestmark = pytest.mark.django_db
directory = ldap_fixtures.directory
ldap_on = ldap_fixtures.ldap_on


def log_in(username: str, password: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    client.landed = response  # type: ignore[attr-defined]
    return client


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def events(action: str) -> list[tuple[str | None, str | None, str]]:
    """(actor, target user, reason) of each `action` entry, oldest first."""
    return [
        (
            e.actor.username if e.actor else None,
            e.target_user.username if e.target_user else None,
            e.reason,
        )
        for e in AuditLog.objects.filter(action=action).order_by("pk")
    ]


def test_a_directory_user_logs_in_through_the_password_form(ldap_on: Slapd) -> None:
    client = log_in("bert", PASSWORDS["bert"])
    assert client.landed.status_code == 302  # type: ignore[attr-defined]
    assert logged_in(client)
    bert = User.objects.get(username="bert")
    assert (bert.first_name, bert.last_name) == ("Bert", "Sutherland")
    assert bert.email == "bert@example.org"
    assert not bert.has_usable_password()  # the directory holds the password, not us
    assert not bert.is_staff
    assert bert.groups.filter(name=ldap_config.DIRECTORY_GROUP).exists()
    backend = client.session["_auth_user_backend"]
    assert backend == ldap_config.BACKEND
    assert ldap_config.method_for_backend(backend) == "ldap"
    assert client.get("/rooms/").status_code == 200


def test_a_wrong_directory_password_or_unknown_name_is_refused(ldap_on: Slapd) -> None:
    assert not logged_in(log_in("bert", "not-the-password"))
    assert not logged_in(log_in("nobody", PASSWORDS["bert"]))
    assert not User.objects.filter(username__in=["bert", "nobody"]).exists()


def test_a_disabled_directory_entry_cannot_log_in(ldap_on: Slapd) -> None:
    # OpenLDAP, unlike Active Directory, still accepts a disabled entry's password: the
    # refusal is the site's, from CHAT_LDAP_DISABLED_FILTER.
    assert ldap_on.can_bind("cleo")
    assert not logged_in(log_in("cleo", PASSWORDS["cleo"]))
    assert not User.objects.filter(username="cleo").exists()


def test_local_accounts_still_log_in_with_their_own_password(
    ldap_on: Slapd, make_user: Callable[..., User]
) -> None:
    make_user("carol", password=TEST_PASSWORD)
    client = log_in("carol", TEST_PASSWORD)
    assert logged_in(client)
    assert ldap_config.method_for_backend(client.session["_auth_user_backend"]) == "password"


def test_a_break_glass_account_never_signs_in_through_the_directory(
    ldap_on: Slapd, settings: Any, make_user: Callable[..., User]
) -> None:
    settings.CHAT_BREAK_GLASS_USERS = ["ada"]
    make_user("ada", password=TEST_PASSWORD, is_staff=True)
    assert not logged_in(log_in("ada", PASSWORDS["ada"]))  # the directory's password
    assert logged_in(log_in("ada", TEST_PASSWORD))  # its own, when the directory is down
    assert not User.objects.get(username="ada").groups.exists()


def test_staff_comes_from_the_directory_group_and_is_audited(ldap_on: Slapd) -> None:
    assert logged_in(log_in("ada", PASSWORDS["ada"]))
    assert User.objects.get(username="ada").is_staff
    assert events("staff.grant") == [(None, "ada", "ldap_login")]

    ldap_on.group_member("ada", add=False)
    assert logged_in(log_in("ada", PASSWORDS["ada"]))
    assert not User.objects.get(username="ada").is_staff
    assert events("staff.remove") == [(None, "ada", "ldap_login")]

    # ldap_sync applies the group without a log-in, both ways.
    ldap_on.group_member("ada", add=True)
    call_command("ldap_sync")
    assert User.objects.get(username="ada").is_staff
    assert events("staff.grant")[-1] == (None, "ada", "ldap_sync")
    ldap_on.group_member("ada", add=False)
    call_command("ldap_sync")
    assert not User.objects.get(username="ada").is_staff
    assert events("staff.remove")[-1] == (None, "ada", "ldap_sync")
    assert len(events("staff.grant")) == len(events("staff.remove")) == 2


def test_directory_staff_get_the_admin_permissions_of_their_directory_groups(
    ldap_on: Slapd,
) -> None:
    from django.contrib.auth.models import Group, Permission

    ada = log_in("ada", PASSWORDS["ada"])  # in cn=chat-staff
    assert ada.get("/admin/").status_code == 200  # staff: the admin opens
    assert ada.get("/admin/chat/room/").status_code == 403  # but no permission yet
    # Staff give the Django group named as the directory group its permissions, once.
    group = Group.objects.create(name="chat-staff")
    group.permissions.add(Permission.objects.get(codename="view_room"))
    assert ada.get("/admin/chat/room/").status_code == 200
    assert not User.objects.get(username="ada").groups.filter(name="chat-staff").exists()

    bert = log_in("bert", PASSWORDS["bert"])  # not in the group: not staff
    assert bert.get("/admin/chat/room/").status_code == 302


def test_ldap_sync_deactivates_accounts_gone_or_disabled_and_only_those(
    ldap_on: Slapd, make_user: Callable[..., User]
) -> None:
    for name in ("ada", "bert", "dora"):
        assert logged_in(log_in(name, PASSWORDS[name]))
    bert_session = log_in("bert", PASSWORDS["bert"])
    carol = make_user("carol", password=TEST_PASSWORD)  # local: not the directory's to judge
    ldap_on.disable("bert")
    ldap_on.delete(f"uid=dora,{PEOPLE}")

    call_command("ldap_sync")

    active = dict(User.objects.values_list("username", "is_active"))
    assert active == {"ada": True, "bert": False, "dora": False, "carol": True}
    assert sorted(events("user.deactivate")) == [
        (None, "bert", "ldap_sync"),
        (None, "dora", "ldap_sync"),
    ]
    # The deactivated account's open session no longer logs anyone in.
    assert bert_session.get("/rooms/").status_code == 302
    # A disabled person cannot come back through the form either.
    assert not logged_in(log_in("bert", PASSWORDS["bert"]))
    # Idempotent: a second run changes and records nothing.
    call_command("ldap_sync")
    assert len(events("user.deactivate")) == 2
    carol.refresh_from_db()
    assert carol.is_active


def test_ldap_sync_dry_run_changes_nothing(ldap_on: Slapd, capsys: Any) -> None:
    assert logged_in(log_in("dora", PASSWORDS["dora"]))
    ldap_on.delete(f"uid=dora,{PEOPLE}")
    call_command("ldap_sync", "--dry-run")
    assert "would deactivate dora (gone)" in capsys.readouterr().out
    assert User.objects.get(username="dora").is_active
    assert not events("user.deactivate")


def test_ldap_sync_changes_nothing_when_the_directory_cannot_be_read(
    ldap_on: Slapd, settings: Any
) -> None:
    assert logged_in(log_in("bert", PASSWORDS["bert"]))
    ldap_on.stop()
    with pytest.raises(CommandError, match="nothing changed"):
        call_command("ldap_sync")
    assert User.objects.get(username="bert").is_active


def test_ldap_sync_refuses_when_the_directory_finds_none_of_its_accounts(
    ldap_on: Slapd, settings: Any
) -> None:
    for name in ("ada", "bert"):
        assert logged_in(log_in(name, PASSWORDS[name]))
    # A wrong search base looks exactly like everyone leaving the company.
    configure(settings, ldap_on.env(CHAT_LDAP_USER_SEARCH_BASE="ou=groups,dc=example,dc=org"))
    with pytest.raises(ldap_sync.SyncRefused):
        ldap_sync.ldap_sync()
    assert User.objects.filter(is_active=True).count() == 2


def test_the_periodic_job_is_queued_once_and_runs_the_sync(ldap_on: Slapd, settings: Any) -> None:
    from datetime import UTC, datetime

    from django_tasks_db.models import DBTaskResult

    configure(settings, ldap_on.env(CHAT_LDAP_SYNC_MINUTES="15"))
    now = datetime(2026, 12, 6, 21, 7, 30, tzinfo=UTC)
    assert ldap_jobs.ldap_sync_ensure(now)
    assert not ldap_jobs.ldap_sync_ensure(now)  # every runner's keeper asks: one job
    queued = DBTaskResult.objects.get(task_path=ldap_jobs.TASK_PATH)
    assert queued.run_after == datetime(2026, 12, 6, 21, 15, tzinfo=UTC)

    assert logged_in(log_in("dora", PASSWORDS["dora"]))
    ldap_on.delete(f"uid=dora,{PEOPLE}")
    ldap_jobs.ldap_sync_job.call()
    assert not User.objects.get(username="dora").is_active

    configure(settings, ldap_on.env(CHAT_LDAP_SYNC_MINUTES="0"))
    DBTaskResult.objects.all().delete()
    assert not ldap_jobs.ldap_sync_ensure(now)  # off: nothing queued


def test_start_tls_is_used_and_the_directory_certificate_verified(
    tmp_path: Any, settings: Any
) -> None:
    from tests.identity.slapd import certificates, slapd

    ldap_fixtures.require_slapd()
    with slapd(tmp_path / "tls", tls=True) as server:
        configure(
            settings,
            server.env(
                CHAT_LDAP_START_TLS="on", CHAT_LDAP_TLS_CA_FILE=str(tmp_path / "tls" / "ca.pem")
            ),
        )
        for name in ("ada", "bert"):
            assert logged_in(log_in(name, PASSWORDS[name]))
        server.delete(f"uid=bert,{PEOPLE}")
        call_command("ldap_sync")  # the sync's own connection does StartTLS too
        assert not User.objects.get(username="bert").is_active

        # A certificate from another CA is refused: the log-in fails, the sync changes nothing.
        other_ca, _, _ = certificates(tmp_path, "other-ca")
        configure(
            settings, server.env(CHAT_LDAP_START_TLS="on", CHAT_LDAP_TLS_CA_FILE=str(other_ca))
        )
        assert not logged_in(log_in("ada", PASSWORDS["ada"]))
        with pytest.raises(CommandError, match="nothing changed"):
            call_command("ldap_sync")
        assert User.objects.get(username="ada").is_active


@pytest.mark.django_db(transaction=True)
def test_the_job_runner_queues_the_periodic_sync(ldap_on: Slapd, settings: Any) -> None:
    import threading
    import time

    from django_tasks_db.models import DBTaskResult

    from notify import runner

    settings.CHAT_JOB_LEASE_SECONDS = 0.6  # the keeper beats every 0.2 s
    started = runner.Runner(startup_delay=False)
    thread = threading.Thread(target=started.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not DBTaskResult.objects.filter(task_path=ldap_jobs.TASK_PATH).exists():
            assert time.monotonic() < deadline, "no ldap_sync job was queued"
            time.sleep(0.05)
        time.sleep(0.5)  # more beats: still one job
        assert DBTaskResult.objects.filter(task_path=ldap_jobs.TASK_PATH).count() == 1
    finally:
        started.stop()
        thread.join(10)
