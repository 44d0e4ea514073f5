"""The product's URLs plus `bench/insert/`: the floor a webhook endpoint is measured against."""

import uuid

from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def insert_only(request, channel_id: int):
    """Read the body, insert one row, answer: what any webhook endpoint must at least do."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO channels_inboundevent (channel_id, source, topic, dedupe_key, delivery_id,"
            " headers, body, deliveries, status, attempts, outcome)"
            " VALUES (%s, 'bench', 'bench', %s, '', '{}', %s, 1, 'ignored', 0, '')",
            [channel_id, f"bench:{uuid.uuid4()}", request.body],
        )
    return JsonResponse({"status": "received"})


urlpatterns = [
    path("bench/insert/<int:channel_id>/", insert_only),
    path("", include("inventory_sync.urls")),
]
