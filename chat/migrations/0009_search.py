# Full-text search of message bodies (issue #17): PostgreSQL's GIN index, built
# CONCURRENTLY (so not atomic), or SQLite's FTS5 table, filled in batches.
# The DDL is chat/search/schema.py's, shared with the bench.
from django.conf import settings
from django.db import migrations

from chat.search import schema


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            schema.pg_create(cursor, settings.CHAT_SEARCH_CONFIG)
    elif connection.vendor == "sqlite":
        schema.sqlite_create(connection, schema.sqlite_tokenizer(settings.CHAT_SEARCH_CONFIG))


def drop(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            schema.pg_drop(cursor)
    elif connection.vendor == "sqlite":
        schema.sqlite_drop(connection)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY; SQLite's batches commit one by one

    dependencies = [("chat", "0008_render_existing_html")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
