from rest_framework.routers import SimpleRouter

from . import apis

router = SimpleRouter()
router.register("audit", apis.AuditEntryViewSet, basename="audit-entry")

urlpatterns = router.urls
