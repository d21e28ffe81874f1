"""Identity URLs under /accounts/ (oidc): accounts/identity/urls.py gathers them. The
callback is what each provider registers as this site's redirect URI:
https://<host>/accounts/sso/<id>/callback/."""

from django.urls import URLPattern, path

from accounts.identity import oidc_views

urlpatterns: list[URLPattern] = [
    path("sso/<str:provider_id>/login/", oidc_views.sso_login, name="oidc_login"),
    path("sso/<str:provider_id>/callback/", oidc_views.sso_callback, name="oidc_callback"),
]
