"""Backups and restores (#27): one tar archive holding a consistent database snapshot
(PostgreSQL: pg_dump's custom format; SQLite: the online backup API), the uploaded files
and a manifest. Reads the database's tables as tables, never through the chat's models
or services: a backup is the whole database, whatever its apps are."""
