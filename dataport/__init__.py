"""Your data in and out (#27): importing a Slack export, exporting and re-importing a
whole chat, a person's own export, retention, erasing a person, backups and restores.
It sits above chat, accounts and notify: it calls their services and selectors; none of
them imports it."""
