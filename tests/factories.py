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
