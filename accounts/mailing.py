"""Mail sent off the request thread, so a response takes as long whether or not an
account has the address (a sign-up or a reset never reveals that, not even by its
timing)."""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.core.mail import send_mail
from django.db import connections

logger = logging.getLogger(__name__)

_mailer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")


def submit(send: Callable[[], object]) -> None:
    """Run `send` on the mail thread; its database connections are closed after it."""

    def run() -> None:
        try:
            send()
        except Exception:
            logger.exception("mail to a user could not be sent")
        finally:
            connections.close_all()

    _mailer.submit(run)


def send_later(subject: str, body: str, to: str) -> None:
    submit(lambda: send_mail(subject, body, None, [to]))
