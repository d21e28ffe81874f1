"""Hooks on models this app does not own: every new account joins the default rooms,
and an account saved inactive loses its sockets, whatever creates or saves it (sign-up,
the admin, createsuperuser, a service, a shell or a script)."""

from typing import Any

from django.contrib.auth.models import User
from django.db.models.signals import post_save
from django.dispatch import receiver

from chat import events, services
from chat.protocol.codes import CloseCode


@receiver(post_save, sender=User, dispatch_uid="chat.user_join_defaults")
def user_created(
    sender: type[User], instance: User, created: bool, raw: bool, **kwargs: Any
) -> None:
    if created and not raw:  # raw: loaddata replays rows, memberships come with them
        services.user_join_defaults(user=instance)


@receiver(post_save, sender=User, dispatch_uid="chat.user_deactivated")
def user_saved(sender: type[User], instance: User, created: bool, raw: bool, **kwargs: Any) -> None:
    # Every save of an inactive account closes its sockets (4403) on every process, after
    # commit: repeated kicks are harmless, a missed one is not. QuerySet.update() sends
    # no signal; the periodic session check (CHAT_SESSION_CHECK_SECONDS) catches it.
    if not instance.is_active and not raw:
        username = instance.get_username()
        events.publish_on_commit(
            events.kick(username=username, room_id=None, code=CloseCode.FORBIDDEN)
        )
