import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_sync.settings")
django_application = get_wsgi_application()

from channels.intake import WebhookIntake  # noqa: E402 (needs Django set up)

# Shopify webhooks skip the middleware stack (sessions, CSRF, auth, messages: none apply to a
# signed machine call) and go straight to the same service function as the Django view.
application = WebhookIntake(django_application)
