from django.urls import path

from . import webhooks

app_name = "webhooks"

urlpatterns = [
    path("shopify/<int:channel_id>/", webhooks.shopify_webhook, name="shopify"),
    path("amazon/<int:channel_id>/", webhooks.amazon_webhook, name="amazon"),
]
