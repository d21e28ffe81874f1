"""The one registry of wire codes: WebSocket close codes, error codes (with their HTTP
status and what a client must do) and client frame types. Pure data: no Django, no I/O.

The page's chat/static/chat/codes.js is generated from it: `python -m chat.protocol.codes`
writes it, `python -m chat.protocol.codes --check` fails when it is not current.
docs/protocol.md and docs/api.md list the same codes (tests/test_codes.py compares them).
"""

import enum
import json
import sys
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from chat.protocol.generated import generate_main


class CloseCode(enum.IntEnum):
    """Close codes a client of this server sees (docs/protocol.md, "Connecting")."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    # Never in a close frame: the client's own report of a connection lost without one.
    ABNORMAL_CLOSURE = 1006
    MESSAGE_TOO_BIG = 1009  # sent by daphne (autobahn) for a frame over CHAT_MAX_FRAME_BYTES
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    # The application's codes mirror the HTTP statuses of the same facts (4401 ~ 401).
    BAD_REQUEST = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    ROOM_NOT_FOUND = 4404
    IDLE = 4408
    TOO_MANY = 4429


class ErrorCode(enum.StrEnum):
    """Every `code` of an error frame or an API error body; ERRORS says what each means."""

    # frames that cannot be read
    BAD_JSON = "bad_json"
    BINARY_FRAME = "binary_frame"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"
    BAD_AFTER = "bad_after"
    # messages
    EMPTY_BODY = "empty_body"
    BODY_TOO_LONG = "body_too_long"
    BAD_BODY = "bad_body"
    BAD_REPLY = "bad_reply"
    BAD_THREAD = "bad_thread"
    BAD_CLIENT_ID = "bad_client_id"
    ROOM_MENTION_FORBIDDEN = "room_mention_forbidden"
    RATE_LIMITED = "rate_limited"
    # rooms and access
    ROOM_NOT_FOUND = "room_not_found"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    BANNED = "banned"
    MUTED = "muted"
    ROOM_LOCKED = "room_locked"
    NOT_JOINED = "not_joined"
    CANNOT_LEAVE = "cannot_leave"
    SLUG_TAKEN = "slug_taken"
    BAD_LEVEL = "bad_level"
    # slash commands
    UNKNOWN_COMMAND = "unknown_command"
    # reactions, files, images
    BAD_EMOJI = "bad_emoji"
    TOO_MANY_REACTIONS = "too_many_reactions"
    FILE_TOO_LARGE = "file_too_large"
    BAD_IMAGE = "bad_image"
    UNSUPPORTED_IMAGE = "unsupported_image"
    IMAGE_TOO_LARGE_PIXELS = "image_too_large_pixels"
    # search
    EMPTY_QUERY = "empty_query"
    QUERY_TOO_LONG = "query_too_long"
    TOO_MANY_TERMS = "too_many_terms"
    BAD_FILTER = "bad_filter"
    BAD_CURSOR = "bad_cursor"
    BAD_TZ = "bad_tz"
    # push subscriptions
    BAD_ENDPOINT = "bad_endpoint"
    BAD_KEYS = "bad_keys"
    PUSH_OFF = "push_off"
    # HTTP requests (the API's own, and Django REST framework's mapped to ours)
    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    BAD_TOKEN = "bad_token"  # noqa: S105 - an error code, not a secret
    CSRF_FAILED = "csrf_failed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # accounts: raised for the HTML pages and commands, which show only the detail
    SIGNUP_CLOSED = "signup_closed"
    DISPLAY_NAME_TOO_LONG = "display_name_too_long"
    BAD_DISPLAY_NAME = "bad_display_name"
    INVITATION_UNKNOWN = "invitation_unknown"
    INVITATION_EXPIRED = "invitation_expired"
    INVITATION_USED = "invitation_used"
    INVITATION_REVOKED = "invitation_revoked"
    # the server failed
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"  # the database is away (a restart, a failover)

    @property
    def spec(self) -> "ErrorSpec":
        return ERRORS[self]


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """What an error code means on the wire and to a client."""

    status: HTTPStatus = HTTPStatus.BAD_REQUEST  # the API's answer with this code
    socket: bool = False  # sent in WebSocket error frames (docs/protocol.md)
    http: bool = False  # sent in API error bodies (docs/api.md)
    # The user may no longer read the room: the per-room socket closes with 4403 after
    # it, and a client drops the room.
    lost_access: bool = False
    # The client drops the room (lost access, or the room is gone); the socket stays open.
    drops_room: bool = False
    # Sending the same frame or request again, at once or with backoff, is safe and may
    # succeed (rate_limited is not: it asks for a wait of its own, retry_after).
    retryable: bool = False


_S = ErrorSpec(socket=True)
_H = ErrorSpec(http=True)
_SH = ErrorSpec(socket=True, http=True)
_PAGES = ErrorSpec()
_E = ErrorCode

ERRORS: dict[ErrorCode, ErrorSpec] = {
    _E.BAD_JSON: _SH,
    _E.BINARY_FRAME: _S,
    _E.BAD_FRAME: _S,
    _E.UNKNOWN_TYPE: _S,
    _E.FRAME_TOO_LARGE: _S,
    _E.BAD_AFTER: _S,  # never in a frame: the connection is refused with 4400
    _E.EMPTY_BODY: _SH,
    _E.BODY_TOO_LONG: _SH,
    _E.BAD_BODY: _SH,
    _E.BAD_REPLY: _SH,
    _E.BAD_THREAD: _SH,
    _E.BAD_CLIENT_ID: _SH,
    _E.ROOM_MENTION_FORBIDDEN: _SH,
    _E.RATE_LIMITED: ErrorSpec(HTTPStatus.TOO_MANY_REQUESTS, socket=True, http=True),
    _E.ROOM_NOT_FOUND: ErrorSpec(HTTPStatus.NOT_FOUND, socket=True, http=True, drops_room=True),
    _E.NOT_FOUND: ErrorSpec(HTTPStatus.NOT_FOUND, socket=True, http=True),
    _E.FORBIDDEN: ErrorSpec(
        HTTPStatus.FORBIDDEN, socket=True, http=True, lost_access=True, drops_room=True
    ),
    _E.BANNED: ErrorSpec(
        HTTPStatus.FORBIDDEN, socket=True, http=True, lost_access=True, drops_room=True
    ),
    _E.MUTED: ErrorSpec(HTTPStatus.FORBIDDEN, socket=True, http=True),
    _E.ROOM_LOCKED: ErrorSpec(HTTPStatus.FORBIDDEN, socket=True, http=True),
    _E.NOT_JOINED: _S,
    _E.CANNOT_LEAVE: _S,
    _E.SLUG_TAKEN: ErrorSpec(HTTPStatus.CONFLICT, http=True),
    _E.BAD_LEVEL: _S,
    _E.UNKNOWN_COMMAND: _S,
    _E.BAD_EMOJI: _SH,
    _E.TOO_MANY_REACTIONS: _SH,
    _E.FILE_TOO_LARGE: ErrorSpec(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, http=True),
    _E.BAD_IMAGE: _H,
    _E.UNSUPPORTED_IMAGE: _H,
    _E.IMAGE_TOO_LARGE_PIXELS: _H,
    _E.EMPTY_QUERY: _H,
    _E.QUERY_TOO_LONG: _H,
    _E.TOO_MANY_TERMS: _H,
    _E.BAD_FILTER: _H,
    _E.BAD_CURSOR: _SH,  # the search API's cursor, and threads.fetch's
    _E.BAD_TZ: _H,
    _E.BAD_ENDPOINT: _H,
    _E.BAD_KEYS: _H,
    _E.PUSH_OFF: ErrorSpec(HTTPStatus.NOT_FOUND, http=True),
    _E.INVALID: _H,
    _E.UNAUTHENTICATED: ErrorSpec(HTTPStatus.UNAUTHORIZED, http=True),
    _E.BAD_TOKEN: ErrorSpec(HTTPStatus.UNAUTHORIZED, http=True),
    _E.CSRF_FAILED: ErrorSpec(HTTPStatus.FORBIDDEN, http=True),
    _E.METHOD_NOT_ALLOWED: ErrorSpec(HTTPStatus.METHOD_NOT_ALLOWED, http=True),
    _E.NOT_ACCEPTABLE: ErrorSpec(HTTPStatus.NOT_ACCEPTABLE, http=True),
    _E.UNSUPPORTED_MEDIA_TYPE: ErrorSpec(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, http=True),
    _E.SIGNUP_CLOSED: _PAGES,
    _E.DISPLAY_NAME_TOO_LONG: _PAGES,
    _E.BAD_DISPLAY_NAME: _PAGES,
    _E.INVITATION_UNKNOWN: _PAGES,
    _E.INVITATION_EXPIRED: _PAGES,
    _E.INVITATION_USED: _PAGES,
    _E.INVITATION_REVOKED: _PAGES,
    # An API failure is a plain 500 without a body of ours; the status is for completeness.
    _E.INTERNAL_ERROR: ErrorSpec(HTTPStatus.INTERNAL_SERVER_ERROR, socket=True, retryable=True),
    # Nothing was saved; the same frame or request may be sent again once the database
    # answers (chat/database/outage.py): a message.send with the same client_id.
    _E.UNAVAILABLE: ErrorSpec(
        HTTPStatus.SERVICE_UNAVAILABLE, socket=True, http=True, retryable=True
    ),
}

# Errors after which the user may not read the room: the per-room socket closes (4403).
LOST_ACCESS = frozenset(code for code, spec in ERRORS.items() if spec.lost_access)
# The API's HTTP status for each code it sends.
HTTP_STATUS = {code: spec.status for code, spec in ERRORS.items() if spec.http}


class HookAnswer(enum.StrEnum):
    """The plain-text body of an incoming webhook's answer (`POST /hooks/<key>`), as
    Slack answers them: tools that post to Slack read these words, not our JSON errors
    (docs/api.md "Incoming webhooks"). HOOK_STATUS gives each one's HTTP status."""

    OK = "ok"
    INVALID_PAYLOAD = "invalid_payload"  # not JSON, not an object, wrong types
    NO_TEXT = "no_text"  # nothing to show
    NO_SERVICE = "no_service"  # unknown or revoked key
    ACTION_PROHIBITED = "action_prohibited"  # room locked, bot banned/muted/deactivated
    CHANNEL_NOT_FOUND = "channel_not_found"  # a `channel` the hook may not post to
    PAYLOAD_TOO_LARGE = "payload_too_large"  # over CHAT_WEBHOOK_MAX_BYTES
    RATE_LIMITED = "rate_limited"  # past the hook's rate; see Retry-After
    # The transport's own, before any hook is looked at:
    METHOD_NOT_ALLOWED = "method_not_allowed"  # not a POST; see Allow
    BAD_HOST = "bad_host"  # a Host header not in ALLOWED_HOSTS (as Django refuses it)


HOOK_STATUS: dict[HookAnswer, HTTPStatus] = {
    HookAnswer.OK: HTTPStatus.OK,
    HookAnswer.INVALID_PAYLOAD: HTTPStatus.BAD_REQUEST,
    HookAnswer.NO_TEXT: HTTPStatus.BAD_REQUEST,
    HookAnswer.NO_SERVICE: HTTPStatus.NOT_FOUND,
    HookAnswer.ACTION_PROHIBITED: HTTPStatus.FORBIDDEN,
    HookAnswer.CHANNEL_NOT_FOUND: HTTPStatus.NOT_FOUND,
    HookAnswer.PAYLOAD_TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HookAnswer.RATE_LIMITED: HTTPStatus.TOO_MANY_REQUESTS,
    HookAnswer.METHOD_NOT_ALLOWED: HTTPStatus.METHOD_NOT_ALLOWED,
    HookAnswer.BAD_HOST: HTTPStatus.BAD_REQUEST,
}


class FrameType(enum.StrEnum):
    """The `type` of every frame a client may send (chat/protocol/parsing.py parses them)."""

    MESSAGE_SEND = "message.send"
    MESSAGE_EDIT = "message.edit"
    MESSAGE_DELETE = "message.delete"
    HISTORY_FETCH = "history.fetch"
    TYPING = "typing"
    REACTION_ADD = "reaction.add"
    REACTION_REMOVE = "reaction.remove"
    # only on /ws/chat/
    ROOM_READ = "room.read"
    ROOM_JOIN = "room.join"
    ROOM_LEAVE = "room.leave"
    ROOM_WATCH = "room.watch"
    ONLINE_FETCH = "online.fetch"
    NOTIFY_SET = "notify.set"
    NOTIFY_PAUSE = "notify.pause"
    MEMBERS_SEARCH = "members.search"
    THREAD_FOLLOW = "thread.follow"
    THREAD_READ = "thread.read"
    THREADS_FETCH = "threads.fetch"
    COMMAND_RUN = "command.run"


# --- the page's copy ----------------------------------------------------------------

JS_PATH = Path(__file__).resolve().parents[1] / "static" / "chat" / "codes.js"


def _js_object(name: str, members: dict[str, object], comment: str) -> str:
    lines = [f"// {comment}", f"export const {name} = Object.freeze({{"]
    lines += [f"  {key}: {json.dumps(value)}," for key, value in members.items()]
    return "\n".join([*lines, "});"])


def _js_set(name: str, codes: list[ErrorCode], comment: str) -> str:
    values = ", ".join(json.dumps(str(code)) for code in codes)
    return f"// {comment}\nexport const {name} = new Set([{values}]);"


def render_js() -> str:
    """chat/static/chat/codes.js as it should be."""
    parts = [
        "// Generated by `python -m chat.protocol.codes` from chat/protocol/codes.py: do not\n"
        "// edit. The server's close codes, error codes and client frame types (docs/protocol.md).",
        _js_object("CloseCode", {c.name: c.value for c in CloseCode}, "Close codes a client sees."),
        _js_object(
            "ErrorCode",
            {c.name: c.value for c in ErrorCode if c.spec.socket or c.spec.http},
            "The `code` of error frames and API error bodies.",
        ),
        _js_object("FrameType", {t.name: t.value for t in FrameType}, "The frames a client sends."),
        _js_set(
            "LOST_ACCESS_ERRORS",
            [c for c in ErrorCode if c.spec.lost_access],
            "The user may no longer read the room.",
        ),
        _js_set(
            "DROPS_ROOM_ERRORS",
            [c for c in ErrorCode if c.spec.drops_room],
            "The room is out of reach (lost access, or gone): drop it.",
        ),
        _js_set(
            "RETRYABLE_ERRORS",
            [c for c in ErrorCode if c.spec.retryable],
            "Sending the same frame again (with backoff) is safe and may succeed.",
        ),
    ]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    return generate_main(JS_PATH, render_js, "chat.protocol.codes", argv)


if __name__ == "__main__":
    sys.exit(main())
