"""Identity URLs under /accounts/ (mfa): accounts/identity/urls.py gathers them."""

from django.urls import URLPattern, path

from accounts.identity import mfa_views

urlpatterns: list[URLPattern] = [
    path("2fa/", mfa_views.mfa_settings, name="mfa"),
    path("2fa/verify/", mfa_views.mfa_verify, name="mfa_verify"),
    path("2fa/enrol/", mfa_views.mfa_enrol, name="mfa_enrol"),
    path("2fa/codes/", mfa_views.mfa_codes, name="mfa_codes"),
    path("2fa/reauth/", mfa_views.mfa_reauth, name="mfa_reauth"),
]
