from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("drift", apis.DriftViewSet, basename="drift")
router.register("halts", apis.HaltViewSet, basename="halt")
router.register("reconciliation-runs", apis.RunViewSet, basename="reconciliation-run")

urlpatterns = router.urls
