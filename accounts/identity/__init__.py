"""Identity: how people prove who they are and what is recorded about it. Single sign-on
(OpenID Connect, LDAP), the second factor, the sessions a person holds, and the security
events of the audit trail. The log-in itself ends in one place, login_flow.complete."""
