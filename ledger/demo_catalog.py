"""The demo catalog: a small apparel-and-home brand with a warehouse, a store and a 3PL."""

from __future__ import annotations

import random

from django.db import transaction

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
