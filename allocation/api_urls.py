from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("rules", apis.AllocationRuleViewSet, basename="rule")

urlpatterns = router.urls
