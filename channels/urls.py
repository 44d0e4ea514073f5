from django.urls import path

from . import order_pages, views

app_name = "channels"

urlpatterns = [
    path("skus/<str:code>/listings/", views.sku_listings, name="sku-listings"),
    path("channels/", views.channel_list, name="channel-list"),
    path("channels/quarantine/", views.quarantine, name="quarantine"),
    path("channels/quarantine/fix/", views.quarantine_fix, name="quarantine-fix"),
    path("incidents/", views.incident_list, name="incident-list"),
    path("order-health/", views.order_health_panel, name="order-health"),
    path(
        "incidents/orders/<int:pk>/cancel/",
        views.incident_order_cancel,
        name="incident-order-cancel",
    ),
    path(
        "incidents/orders/<int:pk>/backorder/",
        views.incident_order_backorder,
        name="incident-order-backorder",
    ),
    path("orders/", order_pages.order_list, name="order-list"),
    path("orders/<int:pk>/", order_pages.order_detail, name="order-detail"),
    path("orders/<int:pk>/ship/", order_pages.order_ship, name="order-ship"),
    path(
        "orders/<int:pk>/lines/<int:line_pk>/route/",
        order_pages.line_reroute,
        name="order-line-reroute",
    ),
    path("customers/<int:pk>/", order_pages.customer_detail, name="customer-detail"),
    path("returns/", views.return_list, name="return-list"),
    path("returns/<int:pk>/grade/", views.return_grade, name="return-grade"),
    path("channels/<str:code>/", views.channel_detail, name="channel-detail"),
    path("channels/<str:code>/mode/", views.channel_mode, name="channel-mode"),
    path("channels/<str:code>/activity/", views.channel_activity, name="channel-activity"),
    path("channels/<str:code>/import/", views.channel_import, name="channel-import"),
    path("channels/imports/<int:pk>/", views.mapping_import, name="mapping-import"),
]
