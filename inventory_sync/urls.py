from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import APIRootView

from access import api_urls as access_api
from allocation import api_urls as allocation_api
from channels import api_urls as channels_api
from inventory_sync.lib.docs import docs_page
from inventory_sync.observability import views as observability
from ledger import api_urls as ledger_api
from reconciliation import api_urls as reconciliation_api

# The API root lists every collection of every app (each app's router adds its own routes).
API_ROUTERS = (
    ledger_api.router,
    allocation_api.router,
    channels_api.router,
    reconciliation_api.router,
    access_api.router,
)
API_ROOT = {
    prefix: f"{basename}-list" for router in API_ROUTERS for prefix, _, basename in router.registry
}

api_v1 = [
    path("", APIRootView.as_view(api_root_dict=API_ROOT), name="api-root"),
    path("", include("access.api_urls")),
    path("", include("ledger.api_urls")),
    path("", include("allocation.api_urls")),
    path("", include("channels.api_urls")),
    path("", include("reconciliation.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Behind a login unless API_DOCS_PUBLIC (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]).
    path("docs/", docs_page(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path("redoc/", docs_page(SpectacularRedocView.as_view(url_name="api:schema")), name="redoc"),
]

urlpatterns = [
    path("metrics", observability.metrics, name="metrics"),
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("signals/", observability.signals, name="signals"),
    path("trends/", observability.trends, name="trends"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include((api_v1, "api"))),
    path("webhooks/", include("channels.webhook_urls")),
    path("reconciliation/", include("reconciliation.urls")),
    path("audit/", include("access.urls")),
    path("insight/", include("insight.urls")),
    path("", include("channels.urls")),
    path("", include("ledger.urls")),
]

# Unmatched URLs under /api/ and /webhooks/ answer JSON like every other error there.
handler404 = "inventory_sync.lib.inputs.not_found"
