# Integrations (#25): a bot message's own look (as_*) and the room's outgoing-hook count.
# The message columns are added with plain ALTER TABLE ... ADD COLUMN ... DEFAULT '' on
# both engines: Django's AddField would copy chat_message on SQLite (its defaults) and
# the copy drops the search index's triggers (see 0012); PostgreSQL 11+ adds such a
# column without rewriting the table either way.
from django.db import migrations, models

COLUMNS = (("as_name", 80), ("as_avatar", 500), ("as_emoji", 16))


class Migration(migrations.Migration):
    dependencies = [("chat", "0012_search_triggers")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE chat_message ADD COLUMN {name} varchar({size})"
                    " NOT NULL DEFAULT ''",
                    f"ALTER TABLE chat_message DROP COLUMN {name}",
                )
                for name, size in COLUMNS
            ],
            state_operations=[
                migrations.AddField(
                    model_name="message",
                    name=name,
                    field=models.CharField(blank=True, db_default="", default="", max_length=size),
                )
                for name, size in COLUMNS
            ],
        ),
        migrations.AddField(
            model_name="room",
            name="outgoing_hooks",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
    ]
