"""Hooks on Django's auth events: which sessions a user holds (so they can be ended,
sockets and all), and forgetting cached profiles when a user or profile changes."""

from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import limits, selectors, services
from accounts.models import Profile


@receiver(user_logged_in, dispatch_uid="accounts.session_started")
def logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
        ip = limits.request_ip(request) if request is not None else None
        services.session_started(
            user=user, session_key=session.session_key, user_agent=agent, ip=ip
        )


@receiver(user_logged_out, dispatch_uid="accounts.session_closed")
def logged_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    # Sent before Django flushes the session: its key is still the one that ends.
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        services.session_closed(session_key=session.session_key)


@receiver(post_save, sender=User, dispatch_uid="accounts.user_saved")
@receiver(post_delete, sender=User, dispatch_uid="accounts.user_deleted")
def user_changed(sender: Any, instance: User, **kwargs: Any) -> None:
    # A new user may reuse a rolled-back id (SQLite); a renamed one has a new avatar URL.
    selectors.profile_forget(instance.pk)


@receiver(post_save, sender=Profile, dispatch_uid="accounts.profile_saved")
@receiver(post_delete, sender=Profile, dispatch_uid="accounts.profile_deleted")
def profile_changed(sender: Any, instance: Profile, **kwargs: Any) -> None:
    selectors.profile_forget(instance.user_id)
