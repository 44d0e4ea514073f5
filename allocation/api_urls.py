from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("rules", apis.AllocationRuleViewSet, basename="rule")
router.register("reservations", apis.ReservationViewSet, basename="reservation")
router.register("incidents", apis.IncidentViewSet, basename="incident")

urlpatterns = router.urls
