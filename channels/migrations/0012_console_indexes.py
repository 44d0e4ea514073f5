"""Indexes for the console at a million ledger entries: the order queue and a channel's recent
orders, what waits for a person in the inbox, and the listings needing attention. Built
without blocking writes on PostgreSQL (ingest and pushes go on while they build)."""

from django.db import migrations, models

from inventory_sync.lib.migration_ops import AddIndexWithoutBlockingWrites


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("channels", "0011_push_attempt_started_idx"),
        ("ledger", "0007_entry_sku_history_idx"),
    ]

    operations = [
        AddIndexWithoutBlockingWrites(
            model_name="channelorder",
            index=models.Index(fields=["-placed_at", "-id"], name="order_placed_idx"),
        ),
        AddIndexWithoutBlockingWrites(
            model_name="channelorder",
            index=models.Index(fields=["channel", "placed_at"], name="order_channel_placed_idx"),
        ),
        AddIndexWithoutBlockingWrites(
            model_name="inboundevent",
            index=models.Index(
                condition=models.Q(("status__in", ["quarantined", "failed"])),
                fields=["channel", "id"],
                name="inbound_event_for_person_idx",
            ),
        ),
        AddIndexWithoutBlockingWrites(
            model_name="listing",
            index=models.Index(
                condition=models.Q(
                    ("desired_version__gt", models.F("pushed_version")),
                    ("push_held_until__isnull", False),
                    models.Q(("push_error", ""), _negated=True),
                    _connector="OR",
                ),
                fields=["channel"],
                name="listing_attention_idx",
            ),
        ),
    ]
