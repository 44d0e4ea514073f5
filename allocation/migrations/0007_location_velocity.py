"""Trailing sales per SKU and location, written by the velocity job: days of cover read it
instead of the ledger."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('allocation', '0006_routing_rules_and_conflict_policy'),
        ('ledger', '0008_sku_supplier'),
    ]

    operations = [
        migrations.CreateModel(
            name='LocationVelocity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('week_per_day', models.DecimalField(decimal_places=2, default=0, max_digits=12)),
                ('month_per_day', models.DecimalField(decimal_places=2, default=0, max_digits=12)),
                ('computed_at', models.DateTimeField()),
                ('location', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ledger.location')),
                ('sku', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ledger.sku')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('sku', 'location'), name='location_velocity_unique_account')],
            },
        ),
    ]
