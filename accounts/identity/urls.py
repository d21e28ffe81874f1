"""Identity pages under /accounts/ (single sign-on, the second factor, your sessions),
in the "accounts" namespace's neighbour "identity"."""

from accounts.identity import urls_mfa, urls_oidc, urls_sessions

app_name = "identity"

urlpatterns = [
    *urls_oidc.urlpatterns,
    *urls_mfa.urlpatterns,
    *urls_sessions.urlpatterns,
]
