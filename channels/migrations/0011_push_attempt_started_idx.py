"""The last hour's push attempts by time: the channel page and /metrics read them at every
view and scrape, and the attempts are kept for good, so without this index each read went
through a channel's whole push history."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0010_pending_customer_match"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="pushattempt",
            index=models.Index(fields=["started_at"], name="push_attempt_started_idx"),
        ),
    ]
