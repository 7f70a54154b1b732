"""API tokens stored as their SHA-256 digest, found by their first 12 digits (see tokens.py), hashed in place.

Existing tokens keep working. The admin's log names a token by its primary key, which was the token itself:
those entries are given the digest instead. Unapplying deletes every token (a digest cannot be turned back
into its token); issue them again with ``manage.py issue_token``.
"""

import hashlib

from django.db import migrations, models

SELECTOR_LENGTH = 12  # tokens.SELECTOR_LENGTH when this was written: a migration must not change with the code


def hash_tokens(apps, schema_editor):
    ApiToken = apps.get_model("chat", "ApiToken")
    LogEntry = apps.get_model("admin", "LogEntry")
    logged = LogEntry.objects.filter(content_type__app_label="chat", content_type__model="apitoken")
    for key in list(ApiToken.objects.values_list("digest", flat=True)):
        digest = hashlib.sha256(key.encode()).hexdigest()
        ApiToken.objects.filter(digest=key).update(digest=digest, selector=key[:SELECTOR_LENGTH])
        logged.filter(object_id=key).update(object_id=digest)


def delete_tokens(apps, schema_editor):
    apps.get_model("chat", "ApiToken").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("chat", "0002_message_order_by_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="selector",
            field=models.CharField(db_index=True, default="", editable=False, max_length=12),
            preserve_default=False,
        ),
        migrations.RenameField(model_name="apitoken", old_name="key", new_name="digest"),
        migrations.AlterField(
            model_name="apitoken",
            name="digest",
            field=models.CharField(editable=False, max_length=64, primary_key=True, serialize=False),
        ),
        migrations.RunPython(hash_tokens, delete_tokens),
    ]
