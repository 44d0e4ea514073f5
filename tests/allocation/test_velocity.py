from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from allocation.models import SkuPolicy
from allocation.velocity import tier_for, velocity_recompute
from ledger import services
from ledger.models import Sku
from ledger.rules import EventLine
from tests.factories import SkuFactory


@pytest.mark.parametrize(
    ("per_day", "tier"),
    [
        (150, "hero"),
        (100, "hero"),
        (99, "core"),
        (20, "core"),
        (19, "tail"),
        (5, "tail"),
        (4, "slow"),
        (0, "slow"),
    ],
)
def test_tier_thresholds(per_day, tier):
    assert tier_for(Decimal(per_day)) == tier


@pytest.mark.django_db
def test_trailing_sales_set_the_tier_and_mark_the_sku(sku, warehouse, receive):
    receive(sku, warehouse, 1000)
    quiet = SkuFactory(code="QUIET")
    now = timezone.now()
    for day in range(7):
        services.record_event(
            kind="sale",
            lines=[EventLine("TEE-M", "WH-EAST", 30)],
            idempotency_key=f"s-{day}",
            source="t",
            occurred_at=now - timedelta(days=day, hours=1),
        )
    Sku.objects.update(allocation_dirty_since=None)
    outcome = velocity_recompute(now=now)
    assert outcome.tiers_changed == 1
    assert Sku.objects.get(pk=sku.pk).velocity_tier == "core"  # 30 a day
    assert SkuPolicy.objects.get(sku=sku).velocity_per_day == Decimal("30.00")
    assert Sku.objects.get(pk=quiet.pk).velocity_tier == "slow"
    assert Sku.objects.get(pk=sku.pk).allocation_dirty_since is not None
    assert velocity_recompute(now=now).tiers_changed == 0
