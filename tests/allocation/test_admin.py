import pytest
from django.urls import reverse

from allocation.models import OversellIncident
from tests.factories import ChannelFactory, ListingFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [
        "allocation_allocationrule",
        "allocation_skupolicy",
        "allocation_bundlecomponent",
        "allocation_saleshalt",
        "allocation_reservation",
        "allocation_oversellincident",
        "channels_channel",
        "channels_listing",
    ],
)
def test_changelists_open_for_staff(admin_client, sku, model):
    ListingFactory(channel=ChannelFactory(code="shopify"), sku=sku)
    assert admin_client.get(reverse(f"admin:{model}_changelist")).status_code == 200


@pytest.mark.django_db
def test_reservations_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:allocation_reservation_add")).status_code == 403


@pytest.mark.django_db
def test_the_close_action_closes_open_incidents(admin_client, sku):
    incident = OversellIncident.objects.create(sku=sku, units_short=2)
    response = admin_client.post(
        reverse("admin:allocation_oversellincident_changelist"),
        {"action": "close_incidents", "_selected_action": [incident.pk]},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "closed"
    assert incident.closed_by == "admin"
