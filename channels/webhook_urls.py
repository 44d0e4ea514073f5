from .lanes.registry import webhook_urlpatterns

app_name = "webhooks"

# /webhooks/<kind>/<channel id>/: each lane names its own endpoint(s).
urlpatterns = webhook_urlpatterns()
