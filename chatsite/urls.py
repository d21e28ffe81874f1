"""Top-level URLs: the chat app, its JSON API, integrations (hooks), accounts (sign-up,
Django's auth views with the site's templates, settings, invitations) and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import password_views
from accounts import views as account_views
from accounts.identity import login_views
from dataport import retention_views
from integrations import pages_outgoing

urlpatterns = [
    # Ours, before the admin's own: the admin logs in with the second factor too.
    path("admin/login/", login_views.PasswordLoginView.as_view(next_page="admin:index")),
    path("admin/", admin.site.urls),
    path("accounts/login/", login_views.PasswordLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/signup/email/<str:token>/", account_views.signup_email, name="signup_email"),
    path("accounts/signup/<str:token>/", account_views.signup, name="signup_invited"),
    path(
        "accounts/password_change/",
        password_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path(
        "accounts/password_reset/",
        password_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        password_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("", include("dataport.urls")),  # /accounts/export/ (a person's own data)
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("accounts.identity.urls")),
    path("api/push/", include("notify.push_api_urls")),
    path("api/", include("chat.api.urls")),
    path("", include("integrations.command_urls")),
    path("", include("integrations.urls")),
    path("", include("notify.urls")),
    path("", include("chat.urls")),
    path("chat/<slug:slug>/settings/", retention_views.room_settings, name="room_settings"),
    path(
        "chat/<slug:slug>/integrations/outgoing/",
        pages_outgoing.outgoing_page,
        name="integrations_outgoing",
    ),
]
