"""`python -m tests.faults.shop_world <shop url> <access token> <webhook secret> <sku count>`:
one live Shopify channel on a sandbox shop, its SKUs stocked and mapped, in the database of
DATABASE_URL. Run in its own process (the fault test's own database is not the test run's).
Prints the channel id and the SKU codes as JSON."""

from __future__ import annotations

import json
import sys

import django
import requests

STOCK = 1_000_000


def build(shop_url: str, token: str, secret: str, sku_count: int) -> dict:
    from channels.lanes.shopify.mapping import import_mapping
    from channels.models import Channel
    from ledger import services
    from ledger.models import Location, Sku
    from ledger.rules import EventLine

    warehouse = Location.objects.create(code="OUTAGE-WH", name="Outage warehouse")
    codes = [f"OUTAGE-{n:02d}" for n in range(sku_count)]
    for code in codes:
        Sku.objects.create(code=code, title=code)
        services.record_event(
            kind="receipt",
            lines=[EventLine(code, warehouse.code, STOCK)],
            idempotency_key=f"outage:receipt:{code}",
            source="test",
        )
    seeded = requests.post(
        f"{shop_url}/_sandbox/seed",
        json={"products": [{"sku": c, "quantities": {"Main warehouse": STOCK}} for c in codes]},
        timeout=60,
    )
    seeded.raise_for_status()
    location = next(x for x in seeded.json()["locations"] if x["name"] == "Main warehouse")
    channel = Channel(
        code="outage-shop",
        name="Outage shop",
        kind="shopify",
        mode="live",
        api_base_url=shop_url,
        api_version="2026-04",
        external_location_id=location["gid"],
        default_location=warehouse,
    )
    channel.credentials = {"access_token": token, "webhook_secret": secret}
    channel.save()
    import_mapping(channel)
    return {"channel": channel.pk, "skus": codes}


if __name__ == "__main__":
    django.setup()
    shop_url, token, secret, count = sys.argv[1:5]
    print(json.dumps(build(shop_url, token, secret, int(count))))
