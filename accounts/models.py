"""Account records: invitations and their uses, profiles, and which sessions belong to
whom. Models never publish; accounts/services.py writes them."""

from django.conf import settings
from django.db import models


class Invitation(models.Model):
    """A sign-up link: usable `max_uses` times until `expires_at`, unless revoked. Only
    the SHA-256 of its 256-bit secret is stored (as for chat.ApiToken)."""

    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The start of the link's token.")
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitations_made",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rooms = models.ManyToManyField(
        "chat.Room", blank=True, related_name="+", help_text="Joined on sign-up."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(uses__lte=models.F("max_uses")), name="invitation_uses_le_max"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.note or 'invitation'})"


class InvitationUse(models.Model):
    """One sign-up through an invitation: the audit trail of who came in by which link."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="use_set")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)  # kept if the account is deleted
    used_at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-used_at"]

    def __str__(self) -> str:
        return f"{self.username} via {self.invitation_id}"


class Profile(models.Model):
    """What others see of a user besides the username. A user without a row has the
    defaults (no display name, the initials avatar)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    display_name = models.CharField(max_length=50, blank=True)
    avatar = models.FileField(upload_to="avatars/", blank=True)
    # The page's colour scheme; "system" follows the browser's prefers-color-scheme.
    theme = models.CharField(
        max_length=6,
        choices=[("system", "System"), ("light", "Light"), ("dark", "Dark")],
        default="system",
    )
    # An IANA zone name ("Europe/Paris"), shown as the person's local time on their
    # profile card; blank: not shown.
    timezone = models.CharField(max_length=64, blank=True)
    # A bot: an account with no password and no page log-in (API tokens only), made by
    # staff, managed by its owner, shown with a BOT badge (docs/integrations.md).
    is_bot = models.BooleanField(default=False, db_default=False)
    bot_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bots_owned",
        help_text="Who manages this bot (its tokens, its hooks).",
    )
    # Bumped on every change: part of the avatar's URL, so caches never show an old one.
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class SessionRecord(models.Model):
    """Which session keys a user holds (Django's session table has no user column), so
    "log out other devices" and a password change can end them, and their sockets."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="session_records"
    )

    class Method(models.TextChoices):
        PASSWORD = "password", "Password"
        LDAP = "ldap", "Directory password"
        SSO = "sso", "Single sign-on"
        LINK = "link", "Sign-up link"

    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    user_agent = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.PASSWORD)
    provider = models.CharField(max_length=50, blank=True)  # the SSO provider's id
    # The second factor was passed (ours, or the SSO provider's own `amr`).
    second_factor = models.BooleanField(default=False)
    # Bumped at most every few minutes by requests and by the sockets' session check.
    last_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"session of {self.user_id}"


class SsoIdentity(models.Model):
    """A person at an OpenID Provider (its `sub`, stable and never reused there) linked to
    an account here: the provider's returning users are matched by it, never by email."""

    provider = models.CharField(max_length=50)  # OidcProvider.id (CHAT_OIDC_PROVIDERS)
    sub = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    linked_at = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "sub"], name="sso_identity_sub_unique"),
            # One identity per provider and account: a second person at the same provider
            # never takes over an account already linked there.
            models.UniqueConstraint(fields=["provider", "user"], name="sso_identity_user_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.sub} -> {self.user_id}"


class DataExport(models.Model):
    """A person's request for a copy of their own data (/accounts/export/, built by a job
    in dataport/). The zip lives in a private folder under MEDIA_ROOT and is handed out
    only by a view that checks the owner; `key` names it in the link, unguessable."""

    class Status(models.TextChoices):
        PENDING = "pending", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"  # its file deleted by the periodic purge

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports"
    )
    key = models.CharField(max_length=43, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Ready exports only: after this the link answers 404 and the purge deletes the file.
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    size = models.PositiveBigIntegerField(default=0)  # bytes of the zip

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"export of {self.user_id} ({self.status})"
