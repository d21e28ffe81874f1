"""Identity tests (#26): OpenID Connect against a real provider, LDAP against slapd,
the second factor, sessions and the audit trail."""
