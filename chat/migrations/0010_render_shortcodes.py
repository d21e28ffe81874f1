# Renders again the messages saved before `:shortcode:` names became emoji (issue #23),
# so history shows 🎉 for ":tada:" as new messages do. Only bodies holding ":" can
# change; batches by id, so a big table is never held in memory whole, and only the
# rows whose html changes are written. It calls chat.content.rendering as it is when
# the migration runs: a pure function of the body and the saved mentions.
from django.db import migrations

BATCH = 500


def render_shortcodes(apps, schema_editor):
    from chat.content import rendering

    Message = apps.get_model("chat", "Message")
    last = 0
    while True:
        batch = list(
            Message.objects.filter(pk__gt=last, body__contains=":")
            .order_by("pk")
            .only("pk", "body", "html", "mentions", "group_mention")[:BATCH]
        )
        if not batch:
            return
        changed = []
        for message in batch:
            html = rendering.render(
                message.body,
                mentions=list(message.mentions or []),
                group_mention=message.group_mention,
            )
            if html != message.html:
                message.html = html
                changed.append(message)
        if changed:
            Message.objects.bulk_update(changed, ["html"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [("chat", "0009_search")]

    # Backwards: nothing to undo (the html of a shortcode is still its message's html).
    operations = [migrations.RunPython(render_shortcodes, migrations.RunPython.noop)]
