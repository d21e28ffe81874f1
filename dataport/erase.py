"""Erasing a person (docs/data.md "Erasing a person"): the account is deactivated and
anonymised, what identifies them or lets them in is deleted, and their messages stay
under the anonymous name or go through chat's own deletion. Called by `manage.py
erase_user` and the admin's "Erase user" action; never by anything below dataport."""

import logging
import re
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import profiles
from accounts.identity import audit
from accounts.models import InvitationUse, Profile, SsoIdentity
from accounts.services import sessions_end_others
from chat.errors import ChatError
from chat.models import ApiToken, Attachment, AuditLog, Message, MessageEdit, Thread
from chat.protocol.codes import ErrorCode
from chat.services.files import attachment_files, stored_files_delete_on_commit
from chat.services.messages import message_mark_deleted
from dataport.userexport import exports_delete
from integrations.models import CommandResponse
from notify.models import MissedEmailState, PushSubscription

logger = logging.getLogger(__name__)

ANONYMOUS_PREFIX = "deleted-"
# deleted-<id> is taken only if someone chose that name; a few suffixes, then give up
# rather than loop.
NAME_TRIES = 20
# Messages deleted per transaction: each is short, so the room's writers never wait long.
DELETE_BATCH = 200


@dataclass(frozen=True)
class Erased:
    username: str  # the anonymous name the account has now
    messages_deleted: int


def anonymous_name(user: User) -> str:
    """`deleted-<id>`: stable (erasing again gives the same name) and never a person's."""
    base = f"{ANONYMOUS_PREFIX}{user.pk}"
    taken = set(
        User.objects.filter(username__startswith=base)
        .exclude(pk=user.pk)
        .values_list("username", flat=True)
    )
    for n in range(NAME_TRIES):
        name = base if n == 0 else f"{base}-{n}"
        if name not in taken:
            return name
    raise ChatError(ErrorCode.INVALID, f"No free anonymous name for account {user.pk}.")


def user_erase(*, user: User, actor: User | None, delete_messages: bool = False) -> Erased:
    """Erase `user`: first the account (one transaction: deactivated, so every socket
    of theirs closes on every process after commit, then anonymised), then, if asked,
    their messages in short batches. Running it again finishes an interrupted run."""
    if actor is not None and actor.pk == user.pk:
        raise ChatError(ErrorCode.FORBIDDEN, "You cannot erase your own account.")
    pending = Message.objects.filter(author=user, deleted_at__isnull=True)
    count = pending.count() if delete_messages else 0
    name = _account_erase(user=user, actor=actor, delete_messages=delete_messages, count=count)
    deleted = messages_erase(user=user) if delete_messages else 0
    logger.info("erased account %s as %s (%d messages deleted)", user.pk, name, deleted)
    return Erased(username=name, messages_deleted=deleted)


@transaction.atomic
def _account_erase(*, user: User, actor: User | None, delete_messages: bool, count: int) -> str:
    user = User.objects.select_for_update().get(pk=user.pk)
    old_name, old_email = user.get_username(), user.email
    # Saved inactive under the old name first: chat/signals.py kicks the sockets by
    # username (CloseCode.FORBIDDEN, every process), and they were opened under this one.
    user.is_active = False
    user.save(update_fields=["is_active"])
    sessions_end_others(user=user, keep=None)
    new_name = anonymous_name(user)
    user.username = new_name
    user.first_name = user.last_name = user.email = ""
    user.is_staff = user.is_superuser = False
    user.last_login = None
    user.set_unusable_password()
    user.save()
    # Group "ldap" is the directory's mark (ldap_sync would look them up by name).
    user.groups.clear()
    user.user_permissions.clear()
    _profile_erase(user)
    ApiToken.objects.filter(user=user).delete()
    PushSubscription.objects.filter(user=user).delete()
    MissedEmailState.objects.filter(user=user).delete()
    SsoIdentity.objects.filter(user=user).delete()
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()  # its recovery codes cascade
    CommandResponse.objects.filter(user=user).delete()
    exports_delete(user)  # their own exports hold the data being erased
    InvitationUse.objects.filter(user=user).update(username=new_name)
    _threads_rename(user, old_name, new_name)
    _audit_anonymise(user, old_name, old_email, new_name)
    if delete_messages:
        reason = f"{count} messages to delete"
    else:
        reason = "messages kept under the anonymous name"
    audit.record(audit.SecurityEvent.USER_ERASE, actor=actor, target=user, reason=reason)
    return new_name


def _profile_erase(user: User) -> None:
    # Through profiles: the avatar file is removed after commit and every process
    # forgets the cached profile (chat.profile event).
    profiles.profile_update(user=user, display_name="", avatar_remove=True)
    Profile.objects.filter(user=user).update(timezone="", theme="system")


def _threads_rename(user: User, old: str, new: str) -> None:
    # Thread summaries keep their latest repliers' usernames as text.
    roots = Message.objects.filter(author=user, thread__isnull=False).values("thread_id")
    for thread in Thread.objects.select_for_update().filter(root_id__in=roots):
        names = [new if name == old else name for name in thread.participants]
        if names != thread.participants:
            thread.participants = names
            thread.save(update_fields=["participants"])


def _audit_anonymise(user: User, old_name: str, old_email: str, new_name: str) -> None:
    """Older entries about the person keep what happened and when, not who they were:
    the target text becomes the anonymous name, the client address goes, and a reason
    that spelled their addresses (email.change) is emptied. Entries by them (as staff)
    keep pointing at the account, which now shows the anonymous name."""
    about = AuditLog.objects.filter(Q(target_user=user) | Q(target=old_name))
    about.filter(action=audit.SecurityEvent.EMAIL_CHANGE.value).update(reason="")
    about.update(target=new_name, ip=None)
    AuditLog.objects.filter(actor=user).update(ip=None)
    named = AuditLog.objects.filter(reason__contains=old_name)
    if old_email:
        named = named | AuditLog.objects.filter(reason__icontains=old_email)
    # Whole words only: a short name ("al") must not turn "already" into nonsense.
    spelled = re.compile(rf"(?<![\w.@+-]){re.escape(old_name)}(?![\w.@+-])")
    for entry in named.filter(Q(target_user=user) | Q(actor=user)):
        reason = entry.reason.replace(old_email, "") if old_email else entry.reason
        entry.reason = spelled.sub(new_name, reason)
        entry.save(update_fields=["reason"])


def messages_erase(*, user: User) -> int:
    """Delete every message of `user` through chat's deletion (message.deleted to the
    room, thread and unread counts kept exact), then scrub what a deleted message keeps:
    its text, earlier versions and file. In batches, each its own short transaction."""
    deleted = 0
    last_id = 0
    while True:  # bounded: each batch deletes its rows, ids only grow
        batch = list(
            Message.objects.select_related("room")
            .filter(author=user, pk__gt=last_id)
            .order_by("pk")[:DELETE_BATCH]
        )
        if not batch:
            return deleted
        last_id = batch[-1].pk
        deleted += _batch_erase(batch)


@transaction.atomic
def _batch_erase(batch: list[Message]) -> int:
    deleted = 0
    for message in batch:
        if message.deleted_at is None:
            message_mark_deleted(message=message, by=None)
            deleted += 1
    ids = [message.pk for message in batch]
    # The text goes from the row and from search (PostgreSQL indexes the body itself;
    # SQLite's index follows it by trigger).
    Message.objects.filter(pk__in=ids).update(
        body="", html="", mentions=[], group_mention="", as_name="", as_avatar="", as_emoji=""
    )
    MessageEdit.objects.filter(message_id__in=ids).delete()
    files = attachment_files(ids)
    Attachment.objects.filter(message_id__in=ids).delete()
    stored_files_delete_on_commit(files)
    return deleted
