"""Read-side queries. They return plain typed data, never model instances, so callers
(consumers, views, events) cannot lazily hit the database later. One module per
sub-domain; callers use `selectors.<name>` from here."""

from accounts.selectors import ProfileOut, user_profile
from chat.selectors.messages import (
    AttachmentOut,
    HistoryOut,
    MessageOut,
    attachment_file,
    attachment_out,
    message_backlogs,
    message_history,
    message_list,
    message_out,
)
from chat.selectors.notifying import NotifyPrefsOut, notify_prefs, room_members_matching
from chat.selectors.reactions import ReactionOut, reaction_count, reactions_for
from chat.selectors.reading import (
    ReadState,
    RoomState,
    UserRef,
    read_states,
    room_preview,
    user_room,
    user_rooms,
)
from chat.selectors.rooms import (
    Access,
    DirectoryRoom,
    RoomOut,
    access_for,
    access_for_many,
    account_allowed,
    room_directory,
    room_get,
    room_last_seqs,
    room_list,
    room_members,
    room_model,
    room_out,
    room_with_access,
    user_get,
)
from chat.selectors.tokens import (
    TokenOut,
    token_list,
    token_user,
)

__all__ = [
    "Access",
    "AttachmentOut",
    "DirectoryRoom",
    "HistoryOut",
    "MessageOut",
    "NotifyPrefsOut",
    "ProfileOut",
    "ReactionOut",
    "ReadState",
    "RoomOut",
    "RoomState",
    "TokenOut",
    "UserRef",
    "access_for",
    "access_for_many",
    "account_allowed",
    "attachment_file",
    "attachment_out",
    "message_backlogs",
    "message_history",
    "message_list",
    "message_out",
    "notify_prefs",
    "reaction_count",
    "reactions_for",
    "read_states",
    "room_directory",
    "room_get",
    "room_last_seqs",
    "room_list",
    "room_members",
    "room_members_matching",
    "room_model",
    "room_out",
    "room_preview",
    "room_with_access",
    "token_list",
    "token_user",
    "user_get",
    "user_profile",
    "user_room",
    "user_rooms",
]
