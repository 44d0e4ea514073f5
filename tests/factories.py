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
