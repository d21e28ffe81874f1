"""Password pages: change (other sessions end, their sockets close), reset by email
(sent off the request thread; every session ends), and django-axes' lockout page."""

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse_lazy

from accounts import mailing, services
from accounts.identity import audit


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view; afterwards every other session of the user is ended (Django only
    makes them invalid), so their sockets close too."""

    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form: Any) -> HttpResponse:
        old_key = self.request.session.session_key
        response = super().form_valid(form)  # update_session_auth_hash: a new session key
        user = form.user
        key = self.request.session.session_key
        if old_key and key and old_key != key:  # this device, under its new key: not ended
            services.session_forget(session_key=old_key, new_key=key)
        if key:
            services.session_started(
                user=user, session_key=key, user_agent=self.request.META.get("HTTP_USER_AGENT", "")
            )
        services.sessions_end_others(user=user, keep=key)
        audit.record(
            audit.SecurityEvent.PASSWORD_CHANGE, actor=user, target=user, request=self.request
        )
        return response


class QuietPasswordResetForm(PasswordResetForm):
    """Sends off the request thread: the answer takes as long with or without an account."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        parent = super().send_mail
        mailing.submit(
            lambda: parent(
                subject_template_name,
                email_template_name,
                context,
                from_email,
                to_email,
                html_email_template_name,
            )
        )


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    form_class = QuietPasswordResetForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "configured": settings.CHAT_EMAIL_CONFIGURED}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.CHAT_EMAIL_CONFIGURED:
            return self.get(request, *args, **kwargs)
        return super().post(request, *args, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view; a reset ends every session of the user (they may be someone else's)."""

    template_name = "accounts/password_reset_confirm.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.sessions_end_others(user=form.user, keep=None)
        # The actor is the account: whoever held its mailbox's link acted as it.
        audit.record(
            audit.SecurityEvent.PASSWORD_RESET,
            actor=form.user,
            target=form.user,
            request=self.request,
        )
        return response


def login_locked_out(
    request: HttpRequest,
    original_response: HttpResponseBase | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): a page, status 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)
