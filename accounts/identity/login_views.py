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

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def method_for_backend(path: str) -> str:
    """How a session signed in, from the backend that checked the password."""
    return "ldap" if path.endswith("LDAPBackend") else "password"


def password_login_allowed(user: User) -> bool:
    """CHAT_PASSWORD_LOGIN=off leaves password log-in to the break-glass staff accounts."""
    if settings.CHAT_PASSWORD_LOGIN:
        return True
    return user.is_staff and user.get_username() in settings.CHAT_BREAK_GLASS_USERS


class PasswordLoginView(auth_views.LoginView):
    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not password_login_allowed(user):
            form.add_error(None, "Log in with single sign-on: password log-in is off.")
            return self.form_invalid(form)
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
