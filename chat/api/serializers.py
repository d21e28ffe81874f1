"""Request validation and the documented shapes of responses. Responses themselves are
the selectors' TypedDicts; the output serializers exist for the OpenAPI schema."""

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from chat.protocol import parsing

MAX_DB_INT = 2**63 - 1  # larger numbers overflow the database's bigint


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="Machine-readable; see docs/api.md.")
    detail = serializers.CharField(help_text="A sentence for people.")
    retry_after = serializers.FloatField(required=False, help_text="Seconds (429 only).")
    field_errors = serializers.DictField(
        required=False, help_text="Per-field problems (400 `invalid` only)."
    )


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()


class RoomSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()
    topic = serializers.CharField()
    last_seq = serializers.IntegerField(help_text="The seq of the room's newest message.")
    is_private = serializers.BooleanField()
    is_direct = serializers.BooleanField()
    is_locked = serializers.BooleanField()
    owner_id = serializers.IntegerField(allow_null=True)


class RoomCreateSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=80)
    topic = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    is_private = serializers.BooleanField(required=False, default=False)


class AttachmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(
        choices=["image", "file"],
        help_text='"image": re-encoded, shown inline, with a thumbnail; "file": download only.',
    )
    url = serializers.CharField(help_text="The file (only for readers of the room).")
    thumbnail_url = serializers.CharField(allow_null=True, help_text="null for a file.")
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    thumbnail_width = serializers.IntegerField()
    thumbnail_height = serializers.IntegerField()


class ReactionSerializer(serializers.Serializer[Any]):
    emoji = serializers.CharField()
    count = serializers.IntegerField(help_text="How many members reacted so.")
    me = serializers.BooleanField(help_text="Whether you are one of them.")


class ReplySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    author = serializers.CharField(
        allow_null=True, help_text="null for a system message, or when it was deleted."
    )
    excerpt = serializers.CharField(
        allow_blank=True,
        help_text='The start of its body, plain text on one line; "" when it was deleted.',
    )
    deleted = serializers.BooleanField(
        help_text='Deleted or hidden since: show "deleted message", never its text.'
    )


class ThreadSummarySerializer(serializers.Serializer[Any]):
    replies = serializers.IntegerField(help_text="Visible replies (0 once all were deleted).")
    last_reply_at = serializers.DateTimeField(allow_null=True)
    participants = serializers.ListField(
        child=serializers.CharField(),
        help_text="Usernames of the latest repliers, most recent first, at most 5.",
    )
    last_seq = serializers.IntegerField(help_text="The seq of the thread's newest reply.")


class MessageSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    room = serializers.SlugField()
    seq = serializers.IntegerField()
    author = serializers.CharField(allow_null=True, help_text="null for system messages.")
    author_display_name = serializers.CharField(
        allow_null=True,
        help_text="The author's display name (their username when they set none); null for "
        "system messages.",
    )
    author_avatar = serializers.CharField(
        allow_null=True,
        help_text="URL of the author's avatar image (an initials avatar when none was "
        "uploaded); null for system messages.",
    )
    author_bot = serializers.BooleanField(
        help_text="A bot's message (shown with a BOT badge). A bot's message may carry the "
        "name and avatar it was posted with (an incoming webhook's `username`, `icon_url`)."
    )
    author_icon_emoji = serializers.CharField(
        allow_null=True,
        help_text="An emoji shown as the avatar of a bot's message (a hook's `icon_emoji`).",
    )
    body = serializers.CharField(allow_blank=True, help_text="The source, plain text.")
    html = serializers.CharField(
        allow_blank=True,
        help_text="The body rendered by the server (a Markdown subset, links, mention "
        "chips), limited to the elements and attributes listed in docs/parsing.md. The "
        "only thing to insert as HTML.",
    )
    reply_to = ReplySerializer(allow_null=True, help_text="The message this one answers.")
    created_at = serializers.DateTimeField()
    client_id = serializers.CharField()
    edited_at = serializers.DateTimeField(allow_null=True)
    kind = serializers.ChoiceField(choices=["user", "system"])
    attachment = AttachmentSerializer(allow_null=True)
    mentions = serializers.ListField(
        child=serializers.CharField(),
        help_text="Usernames of the room's members the body mentions as @username.",
    )
    group_mention = serializers.ChoiceField(
        choices=["room", "here"],
        allow_null=True,
        help_text='"room": @room (every member), "here": @here (members online), or null.',
    )
    reactions = ReactionSerializer(many=True, help_text="Per emoji, first used first.")
    thread = serializers.IntegerField(
        allow_null=True, help_text="A reply in a thread: the id of its root; else null."
    )
    also_to_room = serializers.BooleanField(
        help_text="A reply that shows in the room's timeline too (sent with also_to_room)."
    )
    thread_summary = ThreadSummarySerializer(
        allow_null=True, help_text="On a root that has had replies; else null."
    )
    deleted = serializers.BooleanField(
        help_text="A thread's root deleted after its replies came: kept (no content) so its "
        "thread can still be opened."
    )


class HistorySerializer(serializers.Serializer[Any]):
    messages = MessageSerializer(many=True)
    has_more = serializers.BooleanField(
        help_text="More messages lie beyond this page, in the direction paged."
    )
    last_seq = serializers.IntegerField()


class HistoryQuerySerializer(serializers.Serializer[Any]):
    before = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_DB_INT, help_text="Only seq < before."
    )
    after = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_DB_INT,
        help_text="Only seq > after; the page then starts right after it (paging forward).",
    )
    around = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_DB_INT,
        help_text="This seq and the messages on both sides of it: half of `limit` up to and "
        "including it, the rest after it (a search result in context). Not with before/after.",
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=parsing.MAX_FETCH_LIMIT, default=50
    )
    thread = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_DB_INT,
        help_text="The id of a thread's root: list its replies (not the root) instead of the "
        "room's timeline, paged the same way (else bad_thread).",
    )


class TextField(serializers.CharField):
    """A string handed to the service as is: its checks, and their error codes (the
    WebSocket's: empty_body, body_too_long, bad_body, bad_client_id), apply."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, allow_blank=True, **kwargs)
        self.validators = [
            v
            for v in self.validators
            if not isinstance(
                v, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator
            )
        ]


def _client_id_field() -> TextField:
    return TextField(
        required=False,
        default="",
        help_text=(
            "Chosen by the client, unique per message: a resend with the same client_id "
            "returns the original message. 1-64 printable characters; generated when "
            "left out (no idempotency)."
        ),
    )


# A message, a file or an image may be a reply in a thread: the same two fields for all.
def _thread_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_DB_INT,
        help_text="Reply in the thread of this root: a top-level message of this room, not "
        "deleted or hidden (else bad_thread).",
    )


def _also_to_room_field() -> serializers.BooleanField:
    return serializers.BooleanField(
        required=False,
        default=False,
        help_text="With `thread`: show the reply in the room's timeline too.",
    )


class MessageCreateSerializer(serializers.Serializer[Any]):
    body = TextField(help_text="Plain text, at most CHAT_MAX_BODY_CHARS (4000) characters.")
    client_id = _client_id_field()
    reply_to = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_DB_INT,
        help_text="The id of a message of this room that this one answers (else bad_reply).",
    )
    thread = _thread_field()
    also_to_room = _also_to_room_field()


class FileCreateSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        allow_empty_file=True, help_text="Any file, at most CHAT_FILE_MAX_BYTES (25 MiB)."
    )
    body = TextField(required=False, default="", help_text="An optional caption.")
    client_id = _client_id_field()
    thread = _thread_field()
    also_to_room = _also_to_room_field()


class ReactionRequestSerializer(serializers.Serializer[Any]):
    emoji = TextField(help_text="One of the server's emoji (chat/content/emoji.py), e.g. 👍.")


class ReactionsSerializer(serializers.Serializer[Any]):
    message_id = serializers.IntegerField()
    reactions = ReactionSerializer(many=True)


class ImageCreateSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="A JPEG, PNG, GIF or WebP image.")
    body = TextField(required=False, default="", help_text="An optional caption.")
    client_id = _client_id_field()
    thread = _thread_field()
    also_to_room = _also_to_room_field()


class TokenSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class UserSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    display_name = serializers.CharField(
        help_text="What to show: the display name, or the username when none is set."
    )
    avatar = serializers.CharField(
        help_text="URL of the avatar image (the initials avatar when none was uploaded); it "
        "changes whenever the profile does, so it may be cached."
    )
    author_bot = serializers.BooleanField(help_text="A bot account (shown with a BOT badge).")


class UserQuerySerializer(serializers.Serializer[Any]):
    usernames = serializers.CharField(
        required=False,
        max_length=20_000,
        help_text="Comma-separated usernames, at most 100. Unknown or deactivated users are "
        "left out of the answer. Give this or `q`, not both.",
    )
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        trim_whitespace=True,
        help_text="Search people: active users whose username or display name contains it "
        "(case-insensitive; empty: everyone), best match first. The answer is then a page "
        "`{results, page, has_more}` of people.",
    )
    page = serializers.IntegerField(
        required=False,
        default=1,
        min_value=1,
        max_value=500,
        help_text="With `q`: the page, from 1.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("usernames" in attrs) == ("q" in attrs):
            raise serializers.ValidationError("Give either usernames or q.")
        return attrs


class PersonSerializer(UserSerializer):
    timezone = serializers.CharField(
        help_text='The IANA time zone the person chose to show their local time ("" when none).'
    )
    online = serializers.BooleanField(help_text="Connected now, on any device.")


class PeoplePageSerializer(serializers.Serializer[Any]):
    results = PersonSerializer(many=True)
    page = serializers.IntegerField()
    has_more = serializers.BooleanField(help_text="A next page exists (`page` + 1).")
