# Placeholder: filled in by the rendering work (issue #16) with a batched RunPython
# that renders the html of the messages saved before it.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("chat", "0007_rich_messages")]

    operations: list[migrations.operations.base.Operation] = []
