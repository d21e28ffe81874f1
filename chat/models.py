"""Rooms and messages. Models hold data and constraints only: they never publish."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Room(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=80)
    topic = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Private rooms are visible and joinable only by their members; a direct-message
    # room is a private room of exactly two members, created by /dm/<username>/.
    is_private = models.BooleanField(default=False)
    is_direct = models.BooleanField(default=False, editable=False)
    # Locked: read-only for everyone but staff.
    is_locked = models.BooleanField(default=False)
    # Default rooms are joined by every account when it is created, however it is.
    is_default = models.BooleanField(
        default=False, help_text="Every new account joins this room (public rooms only)."
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms", blank=True
    )
    # The seq of the room's newest message. Bumped with an UPDATE inside the transaction
    # that saves the message, so the row lock hands out 1, 2, 3, ... with no gap.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # How many members chose the level "all" here (kept by chat.services.notify_level_set;
    # may run high after a cascade delete, never low): with 0, a message that mentions
    # nobody in a room that is not a DM needs no notification job at all.
    notify_all_members = models.PositiveIntegerField(default=0, editable=False)
    # How many enabled outgoing webhooks watch this room (integrations/ keeps it; a
    # direct conversation with a hook's bot counts too): with 0, a saved message queues
    # no integration job, read for free with the seqs (chat/services/seqs.py).
    outgoing_hooks = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    # Days this room's messages are kept (dataport/retention.py deletes older ones daily);
    # empty: the site's CHAT_RETENTION_DAYS. Staff set any value (the admin); the owner
    # only a shorter one than the site's (the room's settings page).
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete messages older than this many days. Empty: the site's setting.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a room: joined (public rooms) or a member (private rooms and
    direct conversations), with their read pointer there."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships"
    )
    added_at = models.DateTimeField(default=timezone.now)
    # The highest seq the user has read here. Only ever moves forward, never past the
    # room's last_seq; starts at the room's last_seq on join (nothing unread on join).
    last_read_seq = models.PositiveBigIntegerField(default=0)

    class NotifyLevel(models.TextChoices):
        DEFAULT = "", "default"  # DMs: all; other rooms: mentions (notify/levels.py)
        ALL = "all"
        MENTIONS = "mentions"
        NOTHING = "nothing"

    notify_level = models.CharField(
        max_length=8, choices=NotifyLevel.choices, blank=True, default=NotifyLevel.DEFAULT
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class NotifyPrefs(models.Model):
    """A user's notification wishes that hold in every room, on every device. A user
    without a row has the defaults (not paused, missed-messages email on)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_prefs"
    )
    # Do not disturb: no sound, browser notification or push before this moment.
    paused_until = models.DateTimeField(null=True, blank=True)
    # Email for mentions and direct messages left unread (CHAT_EMAIL_MISSED_DELAY_SECONDS).
    email_missed = models.BooleanField(default=True)
    # Be told of every reply in the threads one follows (page, push, email).
    thread_replies = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"notification preferences of {self.user}"


class Message(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "user"
        SYSTEM = "system", "system"  # posted by the server itself (announce, integrations)

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField(editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.USER)
    # PROTECT: deleting an author would silently rewrite history; deactivate users instead.
    # Empty only for system messages: no account can be impersonated or log in as them.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="chat_messages",
    )
    body = models.TextField()
    # Usernames of the room's members that the body names as @username (chat.content.mentions),
    # as they are spelled; Mention rows index the same for counting.
    mentions = models.JSONField(default=list, blank=True, editable=False)
    # "@here" (the members online when it was sent) or "@room" (every member), if used.
    group_mention = models.CharField(max_length=4, blank=True, default="", editable=False)
    # The body rendered once (a safe Markdown subset, chat/content/rendering.py) when saved or
    # edited; clients insert this, never the body, as HTML.
    html = models.TextField(blank=True, default="", editable=False)
    # The message this one answers (same room). Kept if that one is deleted: the reply
    # then shows "deleted message", never its text.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    # A reply in a thread: the thread's root, a top-level message of the same room. The
    # reply is a message of the room (its seq, its delivery) but shows in the room's
    # timeline, and counts there, only when also_to_room.
    thread = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="thread_replies"
    )
    also_to_room = models.BooleanField(default=False, db_default=False)  # raw COPYs too
    # A bot's message may show another name and avatar (an incoming webhook's `username`
    # and `icon_url`/`icon_emoji`), always with the BOT badge: never a person's look.
    as_name = models.CharField(max_length=80, blank=True, default="", db_default="")
    as_avatar = models.CharField(max_length=500, blank=True, default="", db_default="")
    as_emoji = models.CharField(max_length=16, blank=True, default="", db_default="")
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Deleted by its author or hidden by a moderator: kept (and its seq stays used),
    # never shown to clients again.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq_unique"),
            models.UniqueConstraint(
                fields=["room", "author", "client_id"], name="message_client_id_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="system") | models.Q(author__isnull=False),
                name="message_user_kind_has_author",
            ),
        ]
        indexes = [
            # A thread's replies in seq order (the panel, its unread count).
            models.Index(
                fields=["thread", "seq"],
                name="message_thread_seq",
                condition=models.Q(thread__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.slug}#{self.seq}"


class Thread(models.Model):
    """The summary of a root message's replies, kept in the transaction that changes them
    (a reply saved, deleted or hidden): what the room shows under the root."""

    root = models.OneToOneField(
        Message, primary_key=True, on_delete=models.CASCADE, related_name="thread_info"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    replies = models.PositiveIntegerField(default=0)  # visible replies
    last_reply_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0)  # the newest visible reply's seq
    # Usernames of the latest repliers, most recent first, at most 5.
    participants = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"thread of {self.root_id}"


class ThreadFollow(models.Model):
    """A user's place in a thread: following it or not, and their read pointer there.
    A row is kept after an unfollow (its pointer still serves the panel)."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="follows")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_thread_follows"
    )
    following = models.BooleanField(default=True)
    # The highest reply seq the user has read in the thread; only moves forward.
    last_read_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "user"], name="thread_follow_unique"),
        ]
        indexes = [models.Index(fields=["user", "following"], name="thread_follow_user")]

    def __str__(self) -> str:
        return f"{self.user} on {self.thread_id}"


class Mention(models.Model):
    """A member named in a message: what a user's mention count is counted from. Room
    and seq are the message's, copied so the count needs no join to find the range."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mention_rows")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_mentions"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="mention_unique"),
        ]
        indexes = [models.Index(fields=["user", "room", "seq"], name="mention_user_room_seq")]

    def __str__(self) -> str:
        return f"@{self.user} in {self.message}"


class MessageEdit(models.Model):
    """A message's earlier text, kept for staff whenever its author edits it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits")
    body = models.TextField()
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "edited_at"]

    def __str__(self) -> str:
        return f"edit of {self.message_id} at {self.edited_at:%Y-%m-%d %H:%M}"


class Sanction(models.Model):
    """A ban (no access) or mute (read-only), in one room or site-wide (room empty)."""

    class Kind(models.TextChoices):
        BAN = "ban", "ban"
        MUTE = "mute", "mute"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sanctions"
    )
    room = models.ForeignKey(
        Room,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sanctions",
        help_text="Empty: the whole site.",
    )
    reason = models.CharField(max_length=500)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no expiry.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "kind"])]

    def __str__(self) -> str:
        where = self.room.slug if self.room else "site"
        return f"{self.kind} {self.user} ({where})"


class AuditLog(models.Model):
    """Append-only record of every moderation action and security event (log-ins, second
    factors, sessions, tokens, staff changes: accounts/identity/audit.py). Never deleted;
    edited only to take an erased person's name out (dataport/erase.py)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=200)
    # The account the action was about, when it is one (security events, deactivation):
    # the admin filters by it; the text above stays if the account is deleted.
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=True,
    )
    reason = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)  # the client, for log-ins
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"


class Attachment(models.Model):
    """A file posted with a message: an image (decoded, re-encoded, with a thumbnail) or
    any other file (kept as sent, served only as a download), kept through the storage
    API under a name of the server's (files are served only by chat.api's
    access-checked view)."""

    class Kind(models.TextChoices):
        IMAGE = "image", "image"
        FILE = "file", "file"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="attachment")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    file = models.FileField(max_length=200)
    thumbnail = models.FileField(max_length=200, blank=True)  # images only
    name = models.CharField(max_length=120, help_text="Sanitized original file name.")
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(help_text="Bytes, as stored.")
    width = models.PositiveIntegerField(default=0)  # images only (0 for other files)
    height = models.PositiveIntegerField(default=0)
    thumbnail_width = models.PositiveIntegerField(default=0)
    thumbnail_height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} ({self.width}x{self.height})"


class Reaction(models.Model):
    """One member's emoji on a message (at most one of each emoji per member)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reactions"
    )
    emoji = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on {self.message_id}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the secret is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_api_tokens"
    )
    name = models.CharField(max_length=80)
    # The first characters of the token, not secret: lets a user tell tokens apart.
    prefix = models.CharField(max_length=16, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"
