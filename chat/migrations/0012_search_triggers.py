# SQLite only: 0011 added foreign keys to chat_message, which SQLite does by copying the
# table, and the copy dropped the search index's triggers (0009): new, edited and
# deleted messages stopped reaching the FTS5 index. Put them back and index again.
# PostgreSQL's index is on an expression of the table: nothing to do there.
from django.db import migrations

from chat.search import schema


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema.sqlite_triggers_restore(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False  # schema.sqlite_triggers_restore opens its own transaction

    dependencies = [("chat", "0011_threads")]

    operations = [migrations.RunPython(restore, migrations.RunPython.noop, elidable=False)]
