from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("skus", apis.SkuViewSet, basename="sku")
router.register("locations", apis.LocationViewSet, basename="location")
router.register("events", apis.EventViewSet, basename="event")
router.register("balances", apis.BalanceViewSet, basename="balance")

urlpatterns = router.urls
