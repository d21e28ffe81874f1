# Renders the html of the messages saved before messages had it (issue #16), in batches
# by id so a big table is never held in memory whole. It calls chat.content.rendering as it is
# when the migration runs: a pure function of the body and the saved mentions.
from django.db import migrations

BATCH = 500


def render_existing(apps, schema_editor):
    from chat.content import rendering

    Message = apps.get_model("chat", "Message")
    last = 0
    while True:
        batch = list(
            Message.objects.filter(pk__gt=last, html="")
            .order_by("pk")
            .only("pk", "body", "mentions", "group_mention")[:BATCH]
        )
        if not batch:
            return
        for message in batch:
            message.html = rendering.render(
                message.body,
                mentions=list(message.mentions or []),
                group_mention=message.group_mention,
            )
        Message.objects.bulk_update(batch, ["html"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("chat", "0007_rich_messages")]

    # Backwards: nothing to undo (0007's reverse drops the column).
    operations = [migrations.RunPython(render_existing, migrations.RunPython.noop)]
