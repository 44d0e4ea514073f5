from django.urls import path
from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("channels", apis.ChannelViewSet, basename="channel")
router.register("listings", apis.ListingViewSet, basename="listing")
router.register("orders", apis.OrderViewSet, basename="order")
router.register("returns", apis.ReturnViewSet, basename="return")

urlpatterns = [
    path("skus/<str:code>/allocation/", apis.SkuAllocationApi.as_view(), name="sku-allocation"),
    *router.urls,
]
