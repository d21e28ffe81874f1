"""HTML forms. Field rules only; creating things is the services' job."""

from django import forms

from chat.models import Room


class RoomForm(forms.ModelForm[Room]):
    class Meta:
        model = Room
        fields = ["name", "slug", "topic", "is_private"]
        help_texts = {
            "slug": "Letters, digits, hyphens and underscores; used in the room's URL.",
            "is_private": "Only members you add can see and join it.",
        }
        labels = {"is_private": "Private"}
