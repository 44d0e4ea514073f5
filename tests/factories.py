import factory
from factory.django import DjangoModelFactory

from ledger.models import Location, Sku


class SkuFactory(DjangoModelFactory):
    class Meta:
        model = Sku
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"SKU-{n:05d}")
    title = factory.LazyAttribute(lambda o: f"Product {o.code}")


class LocationFactory(DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"LOC-{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Location {o.code}")
    kind = Location.Kind.WAREHOUSE


class ChannelFactory(DjangoModelFactory):
    class Meta:
        model = "channels.Channel"
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    kind = "shopify"
    mode = "live"


class ListingFactory(DjangoModelFactory):
    class Meta:
        model = "channels.Listing"

    channel = factory.SubFactory(ChannelFactory)
    sku = factory.SubFactory(SkuFactory)
    external_id = factory.Sequence(lambda n: f"gid://shopify/ProductVariant/{n}")


def notified_amazon_channel(code: str, notification_key: str):
    """An Amazon (US) channel whose notification endpoint takes `notification_key`."""
    channel = ChannelFactory(
        code=code,
        kind="amazon",
        seller_id="A3TH9S8BH6GOGM",
        marketplace="ATVPDKIKX0DER",
        region="NA",
    )
    channel.credentials = {
        "refresh_token": "r",
        "lwa_app_id": "a",
        "lwa_client_secret": "s",
        "notification_key": notification_key,
    }
    channel.save()
    return channel
