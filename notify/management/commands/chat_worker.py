"""`python manage.py chat_worker`: the job runner in the foreground, for
CHAT_JOB_WORKER=separate (deploy/systemd/chat-worker.service, deploy/supervisor/).

SIGTERM or SIGINT: finish the job in hand, then exit; a second one exits at once (the job
is then handed back by another runner's reaper one lease later, as after a crash)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from notify.runner import Runner


class Command(BaseCommand):
    help = "Run background jobs (notifications, missed-messages email) until stopped."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CHAT_JOB_WORKER == "inprocess":
            # Harmless (one more runner beside the daphne processes' own), so not refused.
            self.stderr.write("CHAT_JOB_WORKER is inprocess: daphne processes run jobs too.")
        runner = Runner()
        # The library's handlers: the main thread, so its signal use is allowed here.
        runner.worker.configure_signals()
        self.stdout.write(f"job runner {runner.worker_id} running")
        runner.run()
