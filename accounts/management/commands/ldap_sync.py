"""`manage.py ldap_sync`: deactivate the accounts gone or disabled in the directory and
refresh the others (name, email, staff by CHAT_LDAP_STAFF_GROUP); the periodic job
(CHAT_LDAP_SYNC_MINUTES) does the same. One line per change on standard output."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Deactivate the accounts that are gone or disabled in the LDAP directory; refresh "
        "the others' name, email and staff flag."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the accounts that would be deactivated; change nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CHAT_LDAP is None:
            raise CommandError("CHAT_LDAP_URL is not set: there is no directory to sync with.")
        import ldap

        from accounts.identity import ldap_sync

        try:
            report = ldap_sync.ldap_sync(dry_run=options["dry_run"])
        except ldap.LDAPError as error:
            raise CommandError(f"directory unreadable, nothing changed: {error}") from None
        except ldap_sync.SyncRefused as error:
            raise CommandError(f"nothing changed: {error}") from None
        verb = "would deactivate" if options["dry_run"] else "deactivated"
        for line in report.deactivated:
            self.stdout.write(f"{verb} {line}")
        for name in report.staff_granted:
            self.stdout.write(f"staff granted {name}")
        for name in report.staff_removed:
            self.stdout.write(f"staff removed {name}")
        for name in report.ambiguous:
            self.stderr.write(f"left alone {name}: several directory entries match")
        self.stderr.write(
            f"ldap_sync: {report.checked} accounts checked, {len(report.deactivated)} "
            f"{verb}, {len(report.staff_granted)} made staff, "
            f"{len(report.staff_removed)} no longer staff"
        )
