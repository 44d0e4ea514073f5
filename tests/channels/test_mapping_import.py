"""A channel's listings import started from its page, run by a worker, its progress polled:
against the Shopify sandbox over HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import AuditEntry
from access.roles import Role
from channels import imports
from channels.models import Channel, Listing, MappingImport
from channels.sandbox.shopify import serve_in_thread
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(warehouse):
    SkuFactory(code="TEE-M")
    SkuFactory(code="MUG-RED")
    handle = serve_in_thread(seed=5)
    # SCARF-X is sold on the shop and unknown to our catalogue.
    handle.sandbox.seed(
        [{"sku": code, "quantities": {}} for code in ("TEE-M", "MUG-RED", "SCARF-X")]
    )
    channel = Channel(
        code="shop", name="Shop", kind="shopify", mode="live", api_base_url=handle.url,
        api_version="2026-04", external_location_id=handle.sandbox.primary_location().gid,
        default_location=warehouse,
    )  # fmt: skip
    channel.credentials = {"access_token": handle.access_token, "webhook_secret": "whsec"}
    channel.save()
    yield channel
    handle.stop()


@pytest.fixture
def operator(client, person_of):
    client.force_login(person_of(Role.OPERATOR, "ops"))
    return client


def test_an_import_runs_in_the_background_and_shows_its_progress(shop, operator):
    url = reverse("channels:channel-import", args=[shop.code])

    started = operator.post(url, HTTP_HX_REQUEST="true").content.decode()

    job = MappingImport.objects.get(channel=shop)
    assert job.status == "running"
    assert 'hx-trigger="every 2s"' in started  # the page polls it
    assert "<progress" in started
    assert AuditEntry.objects.get(action="channel.import_mapping").after == {"import": job.pk}
    # one at a time per channel
    again = operator.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "running already" in again
    assert MappingImport.objects.count() == 1

    imports.run_import(job.pk)  # what the worker's task does

    job.refresh_from_db()
    assert (job.status, job.read, job.created, job.unmatched_count) == ("done", 3, 2, 1)
    assert "SCARF-X" in job.unmatched[0]
    assert set(Listing.objects.filter(channel=shop).values_list("sku__code", flat=True)) == {
        "TEE-M", "MUG-RED"
    }  # fmt: skip
    done = operator.get(reverse("channels:mapping-import", args=[job.pk])).content.decode()
    assert 'data-status="done"' in done
    assert "every 2s" not in done
    assert 'data-field="created">2<' in done
    # the page shows the last import and offers another
    page = operator.get(reverse("channels:channel-detail", args=[shop.code])).content.decode()
    assert 'id="mapping-import"' in page
    assert "Import listings from Shop" in page
    # a redelivered task changes nothing
    assert imports.run_import(job.pk).created == 2
    assert Listing.objects.filter(channel=shop).count() == 2


def test_progress_is_written_while_the_channel_is_read(shop, monkeypatch):
    job = imports.start_import(shop, actor="ops")
    seen_mid_run = []
    shopify = imports.lane_for_kind("shopify")

    class SlowCatalogue:
        """A lane whose catalogue has 60 items: what the page would see part way through."""

        def import_mapping(self, channel, *, progress):
            for count in range(1, 61):
                progress(count, None)
                if count == 30:
                    seen_mid_run.append(MappingImport.objects.get(pk=job.pk).read)
            return shopify.import_mapping(channel)

        def describe_unmapped(self, row):
            return str(row)

    monkeypatch.setattr(imports, "lane_for_kind", lambda kind: SlowCatalogue())
    imports.run_import(job.pk)
    assert seen_mid_run == [25]  # written every PROGRESS_EVERY items


def test_a_channel_that_cannot_be_read_fails_the_import_and_says_why(shop, operator):
    Channel.objects.filter(pk=shop.pk).update(api_base_url="http://127.0.0.1:9/")
    job = imports.start_import(Channel.objects.get(pk=shop.pk), actor="ops")

    imports.run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error
    assert job.finished_at is not None
