from rest_framework.routers import DefaultRouter

from . import apis

router = DefaultRouter()
router.register("skus", apis.SkuViewSet, basename="sku")
router.register("locations", apis.LocationViewSet, basename="location")
router.register("events", apis.EventViewSet, basename="event")
router.register("balances", apis.BalanceViewSet, basename="balance")

urlpatterns = router.urls
