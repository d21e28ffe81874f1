"""HTML forms for accounts. Field rules only; creating and changing things is the
services' job (accounts/services.py)."""

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from accounts import services
from chat.models import Room


class SignupForm(UserCreationForm[User]):
    """Django's sign-up form plus an optional email address (fixed to the proven one
    when the link came by email)."""

    email = forms.EmailField(
        required=False, help_text="Optional; needed to reset a forgotten password."
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args: Any, verified_email: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if verified_email:
            self.fields["email"].initial = verified_email
            self.fields["email"].disabled = True  # the submitted value is ignored
            self.fields["email"].help_text = "The address your sign-up link was sent to."


class EmailSignupForm(forms.Form):
    email = forms.EmailField(label="Work email address")

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"]
        if not services.email_domain_allowed(email):
            domains = ", ".join("@" + domain for domain in settings.CHAT_SIGNUP_EMAIL_DOMAINS)
            raise forms.ValidationError(f"Only addresses at {domains} may sign up this way.")
        return email


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        required=False,
        # One more than allowed: the service refuses the rest with its own message.
        max_length=settings.CHAT_DISPLAY_NAME_MAX_CHARS + 1,
        strip=False,
        help_text="Shown with your username in messages and member lists.",
    )
    avatar = forms.FileField(
        required=False, help_text="A JPEG, PNG, GIF or WebP image; cut to a square."
    )
    avatar_remove = forms.BooleanField(required=False, label="Use the initials avatar")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = settings.CHAT_DISPLAY_NAME_MAX_CHARS
        self.fields["display_name"].error_messages["max_length"] = (
            f"A display name has at most {limit} characters."
        )
        self.fields["display_name"].widget.attrs["maxlength"] = str(limit)


class EmailForm(forms.Form):
    email = forms.EmailField(
        required=False,
        label="Email address",
        help_text="Used only to reset a forgotten password and for notification emails.",
    )


class PreferencesForm(forms.Form):
    """The page's look and the user's time zone (Profile.theme, Profile.timezone)."""

    theme = forms.ChoiceField(
        choices=[
            ("system", "System (follow this device)"),
            ("light", "Light"),
            ("dark", "Dark"),
        ],
        widget=forms.RadioSelect,
        label="Theme",
        help_text="System follows the light or dark setting of each device you use.",
    )
    timezone = forms.ChoiceField(
        required=False,
        label="Time zone",
        help_text="Shown as your local time on your profile card. Blank: not shown.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["timezone"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [("", "Not set"), *((zone, zone) for zone in timezone_names())]
        field.error_messages["invalid_choice"] = "Choose a time zone from the list."
        self.fields["theme"].error_messages["invalid_choice"] = "Choose light, dark or system."


def timezone_names() -> list[str]:
    """Every IANA zone zoneinfo knows (the service accepts the same set), sorted."""
    return sorted(zoneinfo.available_timezones())


def invitable_rooms(user: User) -> "QuerySet[Room]":
    rooms = Room.objects.filter(is_direct=False).order_by("is_private", "name")
    return rooms if user.is_staff else rooms.filter(created_by=user)


class InvitationForm(forms.Form):
    note = forms.CharField(required=False, max_length=services.MAX_NOTE_CHARS, label="For")
    days = forms.FloatField(
        min_value=0.01,
        max_value=services.MAX_INVITATION_DAYS,
        initial=7,
        label="Valid for (days)",
    )
    max_uses = forms.IntegerField(
        min_value=1, max_value=services.MAX_INVITATION_USES, initial=1, label="Uses"
    )
    rooms = forms.ModelMultipleChoiceField(
        queryset=Room.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Joined on sign-up, besides the default rooms.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["rooms"]
        assert isinstance(field, forms.ModelMultipleChoiceField)  # noqa: S101
        field.queryset = invitable_rooms(user).filter(Q(is_default=False) | Q(is_private=True))
