"""Write-side rules: validate, persist in one transaction, publish after commit.

The only layer that publishes, and only after commit (events.publish_on_commit), so
nobody ever sees a change that was rolled back. Callable from any sync Django code;
async code wraps it in database_sync_to_async (or uses the *_async forms). One module
per sub-domain; callers use `services.<name>` from here.
"""

from chat.services.access import access_require_read, access_require_write
from chat.services.files import message_post_file, message_post_image
from chat.services.messages import (
    history_page,
    message_body_clean,
    message_delete,
    message_edit,
)
from chat.services.moderation import (
    audit_record,
    room_lock,
    sanction_applied,
    sanction_create,
    sanction_lift,
    user_deactivate,
    user_deactivated,
    user_reactivated,
    user_staff_changed,
)
from chat.services.notifying import notify_level_set, notify_prefs_set
from chat.services.posting import (
    NewAttachment,
    Outcome,
    PostedAs,
    RichContent,
    SendRequest,
    message_post,
    message_post_async,
    message_post_many,
    message_post_one,
    message_post_system,
    message_post_system_async,
)
from chat.services.reactions import reaction_set
from chat.services.reading import room_read
from chat.services.rooms import (
    dm_open,
    membership_add,
    membership_ensure,
    membership_remove,
    room_create,
    room_join,
    room_leave,
    user_join_defaults,
)
from chat.services.threads import thread_follow, thread_history, thread_read
from chat.services.tokens import NewToken, token_create, token_digest, token_revoke, token_used

__all__ = [
    "NewAttachment",
    "NewToken",
    "Outcome",
    "PostedAs",
    "RichContent",
    "SendRequest",
    "access_require_read",
    "access_require_write",
    "audit_record",
    "dm_open",
    "history_page",
    "membership_add",
    "membership_ensure",
    "membership_remove",
    "message_body_clean",
    "message_delete",
    "message_edit",
    "message_post",
    "message_post_async",
    "message_post_file",
    "message_post_image",
    "message_post_many",
    "message_post_one",
    "message_post_system",
    "message_post_system_async",
    "notify_level_set",
    "notify_prefs_set",
    "reaction_set",
    "room_create",
    "room_join",
    "room_leave",
    "room_lock",
    "room_read",
    "sanction_applied",
    "sanction_create",
    "sanction_lift",
    "thread_follow",
    "thread_history",
    "thread_read",
    "token_create",
    "token_digest",
    "token_revoke",
    "token_used",
    "user_deactivate",
    "user_deactivated",
    "user_join_defaults",
    "user_reactivated",
    "user_staff_changed",
]
