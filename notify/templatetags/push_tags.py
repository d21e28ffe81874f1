"""Template tags for Web Push: the VAPID public key in the page, for chat/push.js."""

from django import template
from django.conf import settings
from django.template import Context
from django.utils.html import format_html
from django.utils.safestring import SafeString

from notify.push import push_configured

register = template.Library()


@register.simple_tag(takes_context=True)
def push_key_meta(context: Context) -> SafeString | str:
    """<meta name="vapid-key"> for a logged-in user when Web Push is on; nothing else
    (push.js then reports push as unavailable and offers nothing)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if not push_configured() or user is None or not user.is_authenticated:
        return ""
    return format_html('<meta name="vapid-key" content="{}">', settings.CHAT_VAPID_PUBLIC_KEY)
