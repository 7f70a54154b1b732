# Pages of messages are read by id (scrollback with ``before``, catching up with ``since``), no longer by ``created``.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="chatmessage",
            options={"ordering": ["id"]},
        ),
        migrations.RemoveIndex(
            model_name="chatmessage",
            name="chat_message_room_latest",
        ),
        migrations.AddIndex(
            model_name="chatmessage",
            index=models.Index(fields=["room", "id"], name="chat_message_room_order"),
        ),
    ]
