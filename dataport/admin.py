"""dataport's admin: each feature's admin module, imported here so autodiscovery finds
it (one line per feature)."""

from dataport import erase_admin  # noqa: F401 - registers the users' "Erase user" action
