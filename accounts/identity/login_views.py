"""The password (or directory) log-in form, ending in login_flow.complete like every
log-in. It is the admin's log-in page too (chatsite/urls.py), so the admin asks for the
second factor the same way. Checking the password stays Django's (its form, the
backends, axes)."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import User
from django.http import HttpResponse

from accounts.identity import audit, login_flow
from accounts.identity.ldap_config import method_for_backend

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# CHAT_PASSWORD_LOGIN=off: the same answer for every name and password, so it tells
# nothing about which accounts are the break-glass ones.
OFF_MESSAGE = (
    "Password log-in is off here: log in with single sign-on. Only the break-glass "
    "accounts use a password."
)


class PasswordLoginView(auth_views.LoginView):
    def get_form(self, form_class: Any = None) -> Any:
        form = super().get_form(form_class)
        if not settings.CHAT_PASSWORD_LOGIN:
            form.error_messages = {**form.error_messages, "invalid_login": OFF_MESSAGE}
        return form

    def form_valid(self, form: Any) -> HttpResponse:
        # CHAT_PASSWORD_LOGIN=off was enforced by the backends (oidc_policy.py).
        user = form.get_user()
        backend = getattr(user, "backend", MODEL_BACKEND)
        first = login_flow.FirstFactor(method=method_for_backend(backend), backend=backend)
        return login_flow.complete(self.request, user, first, next_url=self.get_success_url())

    def form_invalid(self, form: Any) -> HttpResponse:
        if getattr(self.request, "axes_locked_out", False):  # axes answers with its page
            username = self.request.POST.get("username", "")[:150]
            known = User.objects.filter(username=username).first()
            audit.record(
                audit.SecurityEvent.LOGIN_FAILURE,
                actor=None,
                target=known or username,
                reason="locked",
                request=self.request,
            )
        return super().form_invalid(form)
