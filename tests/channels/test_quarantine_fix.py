"""Quarantine fixed in place: an order for a variant we did not know waits; an operator maps
the variant to a SKU (or creates the SKU from the row) and the order applies at once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import AuditEntry
from access.roles import Role
from channels import quarantine, unmapped
from channels.models import ChannelOrder, InboundEvent, Listing
from ledger.models import Location, Sku
from tests.channels.shopify_world import World, balance, listing
from tests.factories import LocationFactory, SkuFactory


@pytest.mark.parametrize(
    ("variant", "sku"),
    [
        ("gid://shopify/ProductVariant/7", "SCARF-X"),
        ("", 'A "quoted" SKU; with words'),
        ("gid://shopify/ProductVariant/8", ""),
    ],
)
def test_the_quarantine_sentence_reads_back_as_the_item_it_names(variant, sku):
    text = unmapped.describe("#1001", "line-1", variant, sku)
    assert unmapped.parse(f"{text}; {text} (2 other line(s) applied)") == [
        unmapped.Unmapped(variant=variant, sku=sku)
    ]


def test_a_quarantine_of_another_kind_offers_no_fix():
    assert unmapped.parse("Order #1 names location 99, which we do not sync.") == []


@pytest.fixture
def shop(live_server, receive):
    warehouse = LocationFactory(code="WH-EAST")
    receive(SkuFactory(code="MUG-RED"), warehouse, 20)
    world = World(live_server.url)
    # The shop sells a scarf our catalogue does not know yet: the mapping import skips it.
    a = world.open_shop(
        "shop-a",
        stock={"MUG-RED": 20, "SCARF-X": 5},
        location=Location.objects.get(code="WH-EAST"),
        seed=1,
    )
    world.settle()
    yield world, a
    world.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_operator_creates_the_sku_from_the_row_and_the_order_applies(shop, client, person_of):
    world, a = shop
    a.sandbox.sell("SCARF-X", 2)
    world.settle()
    waiting = InboundEvent.objects.get(channel=a.channel, status="quarantined")
    [item] = quarantine.waiting_items()
    assert item.item.sku == "SCARF-X"
    assert item.event_ids == [waiting.pk]

    client.force_login(person_of(Role.OPERATOR, "ops"))
    page = client.get(reverse("channels:quarantine")).content.decode()
    assert 'data-item="SCARF-X"' in page
    response = client.post(
        reverse("channels:quarantine-fix"),
        {
            "channel": "shop-a",
            "variant": item.item.variant,
            "channel_sku": "SCARF-X",
            "sku": "SCARF-X",
            "title": "Wool scarf",
            "action": "create",
        },
        follow=True,
    )
    assert "SCARF-X created and mapped to SCARF-X" in response.content.decode()
    # the order applied in the request: its units are committed, nothing waits
    waiting.refresh_from_db()
    assert waiting.status == "applied"
    assert balance("SCARF-X", "WH-EAST", "committed") == 2
    assert ChannelOrder.objects.filter(channel=a.channel).count() == 1
    # the listing carries the shop's inventory item, so its level can be set at once
    scarf = listing(a, "SCARF-X")
    assert scarf.external_id == item.item.variant
    assert scarf.shopify_inventory_item_id.startswith("gid://shopify/InventoryItem/")
    assert Sku.objects.get(code="SCARF-X").title == "Wool scarf"
    entry = AuditEntry.objects.get(action="quarantine.fix")
    assert entry.actor == "ops"
    assert entry.after["events"] == 1
    assert quarantine.waiting_items() == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_mapping_to_an_existing_sku_and_the_refusals(shop, client, person_of):
    world, a = shop
    a.sandbox.sell("SCARF-X", 1)
    world.settle()
    [item] = quarantine.waiting_items()
    url = reverse("channels:quarantine-fix")
    form = {"channel": "shop-a", "variant": item.item.variant, "channel_sku": "SCARF-X"}

    # a viewer may not
    client.force_login(person_of(Role.VIEWER, "reader"))
    assert client.post(url, {**form, "sku": "MUG-RED", "action": "map"}).status_code == 403
    assert not Listing.objects.filter(external_id=item.item.variant).exists()

    client.force_login(person_of(Role.OPERATOR, "ops"))
    # an unknown SKU, or creating one that exists, changes nothing and says why
    said = client.post(url, {**form, "sku": "NOPE", "action": "map"}, follow=True)
    assert "No SKU &#x27;NOPE&#x27;" in said.content.decode()
    said = client.post(url, {**form, "sku": "MUG-RED", "action": "create"}, follow=True)
    assert "SKU MUG-RED exists already" in said.content.decode()
    assert InboundEvent.objects.get(pk=item.event_ids[0]).status == "quarantined"

    client.post(url, {**form, "sku": "MUG-RED", "action": "map"})
    assert InboundEvent.objects.get(pk=item.event_ids[0]).status == "applied"
    assert balance("MUG-RED", "WH-EAST", "committed") == 1
    assert Listing.objects.get(external_id=item.item.variant).sku.code == "MUG-RED"
    # mapped twice: refused, the first mapping stands
    said = client.post(url, {**form, "sku": "MUG-RED", "action": "map"}, follow=True)
    assert "already has a listing" in said.content.decode()
