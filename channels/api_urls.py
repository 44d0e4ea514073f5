from django.urls import path
from rest_framework.routers import SimpleRouter

from . import apis, shipment_apis

router = SimpleRouter()
router.register("channels", apis.ChannelViewSet, basename="channel")
router.register("listings", apis.ListingViewSet, basename="listing")
router.register("orders", apis.OrderViewSet, basename="order")
router.register("returns", apis.ReturnViewSet, basename="return")
router.register("customers", apis.CustomerViewSet, basename="customer")
router.register("shipments", shipment_apis.ShipmentViewSet, basename="shipment")
router.register(
    "fulfilment-requests", shipment_apis.FulfilmentRequestViewSet, basename="fulfilment-request"
)

urlpatterns = [
    path("skus/<str:code>/allocation/", apis.SkuAllocationApi.as_view(), name="sku-allocation"),
    *router.urls,
]
