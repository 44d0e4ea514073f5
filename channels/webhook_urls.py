from django.urls import path

from .fulfilment_webhook import partner_webhook
from .lanes.registry import webhook_urlpatterns

app_name = "webhooks"

# /webhooks/<kind>/<channel id>/: each lane names its own endpoint(s).
urlpatterns = [
    *webhook_urlpatterns(),
    path("fulfilment/<int:partner_id>/", partner_webhook, name="fulfilment"),
]
