"""The demo catalog: a small apparel-and-home brand with a warehouse, a store and a 3PL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .models import EventKind, Location, Sku
from .rules import EventLine, EventRequest
from .services import BatchOutcome, record_events

LOCATIONS = [
    ("WH-EAST", "East warehouse", Location.Kind.WAREHOUSE, True, False),
    ("STORE-SOHO", "SoHo store", Location.Kind.STORE, True, True),
    ("3PL-WEST", "West 3PL", Location.Kind.THIRD_PARTY, True, False),
]
PRODUCTS = [
    ("TEE", "Organic cotton tee", ["S", "M", "L", "XL"], ["apparel"]),
    ("HOOD", "Fleece hoodie", ["S", "M", "L"], ["apparel"]),
    ("SOCK", "Merino socks 3-pack", ["M", "L"], ["apparel", "accessories"]),
    ("CAP", "Canvas cap", ["OS"], ["accessories"]),
    ("MUG", "Stoneware mug", ["WHT", "BLK", "SAGE"], ["home"]),
    ("CNDL", "Soy candle", ["CEDAR", "FIG", "SEA"], ["home"]),
    ("TOTE", "Market tote", ["NAT", "BLK"], ["accessories"]),
    ("BOTL", "Steel bottle", ["500", "750"], ["home"]),
    ("BLNK", "Wool blanket", ["GRY", "OAT"], ["home"]),
    ("NOTE", "Dot-grid notebook", ["A5", "A6"], ["stationery"]),
    ("PEN", "Brass pen", ["GLD"], ["stationery"]),
    ("APRN", "Linen apron", ["OS"], ["home"]),
    ("SCRF", "Cashmere scarf", ["RED", "NAVY"], ["apparel", "accessories"]),
    ("SHRT", "Oxford shirt", ["S", "M", "L", "XL"], ["apparel"]),
    ("DUFL", "Weekender duffel", ["OLV", "BLK"], ["accessories"]),
    ("SOAP", "Olive oil soap", ["LAV", "MINT", "OAT"], ["home"]),
    ("PLNT", "Ceramic planter", ["SM", "LG"], ["home"]),
]


def demo_catalog_seed() -> BatchOutcome:
    """Create the demo locations and SKUs and record their opening balances.

    Idempotent: opening balances are keyed `demo:opening:<sku>:<location>` and the random
    quantities come from a fixed seed, so seeding twice changes nothing.
    """
    rng = random.Random(20261123)
    with transaction.atomic():
        for code, name, kind, can_ship, can_pickup in LOCATIONS:
            Location.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "kind": kind,
                    "can_ship": can_ship,
                    "can_pickup": can_pickup,
                },
            )
        requests = []
        for stem, title, variants, tags in PRODUCTS:
            for variant in variants:
                code = f"{stem}-{variant}"
                Sku.objects.get_or_create(
                    code=code,
                    defaults={
                        "title": f"{title} ({variant})",
                        "barcode": f"0{rng.randrange(10**11, 10**12)}",
                        "weight_grams": rng.randrange(50, 1500),
                        "tags": tags,
                    },
                )
                for location, *_ in LOCATIONS:
                    quantity = rng.choice([0, 2, 5, 8, 12, 20, 35, 50, 80, 120])
                    if quantity:
                        requests.append(
                            EventRequest(
                                kind=EventKind.RECEIPT,
                                lines=(EventLine(sku=code, location=location, quantity=quantity),),
                                idempotency_key=f"demo:opening:{code}:{location}",
                                source="demo",
                                reason="opening balance",
                            )
                        )
        return record_events(requests)


# Units sold a day at the warehouse over the last month, so the demo's velocity tiers, days of
# cover and reorder suggestions mean something from the first minute (a demo that has sold
# for minutes would call everything slow). Tiers: hero ≥ 100 a day, core ≥ 20, tail ≥ 5.
DEMO_RATES = {
    "TEE-M": 120, "MUG-WHT": 104, "TEE-L": 32, "HOOD-M": 26, "SOCK-M": 21, "CAP-OS": 8,
    "CNDL-FIG": 6, "TOTE-NAT": 5, "BOTL-500": 3, "NOTE-A5": 2,
}  # fmt: skip
HISTORY_DAYS = 30
SUPPLIERS = {"TEE": "Cotton Co", "HOOD": "Cotton Co", "SHRT": "Cotton Co", "SOCK": "Knitworks",
             "SCRF": "Knitworks", "MUG": "Kiln & Co", "PLNT": "Kiln & Co"}  # fmt: skip


def demo_sales_history_seed(*, now: datetime | None = None) -> BatchOutcome:
    """A month of daily sales at WH-EAST, each shipped the same day and its units received
    again that morning (stock stays as seeded; the history is what the rates read).
    Keyed by SKU and date: seeding twice on a day adds nothing."""
    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    for stem, supplier in SUPPLIERS.items():
        Sku.objects.filter(code__startswith=f"{stem}-", supplier="").update(supplier=supplier)
    requests = []
    for code, per_day in DEMO_RATES.items():
        for back in range(1, HISTORY_DAYS + 1):
            day = now - timedelta(days=back)
            key = f"demo:history:{code}:{day.date().isoformat()}"
            for kind, hour in (("receipt", 8), ("sale", 12), ("shipment", 16)):
                requests.append(
                    EventRequest(
                        kind=kind,
                        lines=(EventLine(sku=code, location="WH-EAST", quantity=per_day),),
                        idempotency_key=f"{key}:{kind}",
                        source="demo",
                        occurred_at=day.replace(hour=hour),
                        reason="demo history" if kind == "receipt" else "",
                        reference=f"demo:history:{code}" if kind != "receipt" else "",
                    )
                )
    return record_events(requests)
