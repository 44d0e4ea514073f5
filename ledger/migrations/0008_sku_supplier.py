"""Who a SKU is bought from: the reorder suggestions are exported one supplier at a time.
A blank default: no existing row needs a value, nothing is rewritten on PostgreSQL."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0007_entry_sku_history_idx'),
    ]

    operations = [
        migrations.AddField(
            model_name='sku',
            name='supplier',
            field=models.CharField(blank=True, max_length=100),
        ),
    ]
