"""The test provider's pages: its log-in form, django-oidc-provider under /openid/
(the issuer is <site>/openid), and the test's control endpoint."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from tests.identity.op import hooks

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="op/login.html"), name="login"),
    path("openid/", include("oidc_provider.urls", namespace="oidc_provider")),
    path("test/control/", hooks.control, name="control"),
]
