"""SP-API notifications delivered the way an EventBridge API destination delivers them.

Amazon publishes a notification (ORDER_CHANGE, FBA_INVENTORY_AVAILABILITY_CHANGES,
LISTINGS_ITEM_MFN_QUANTITY_CHANGE, ...) to an SQS queue or an EventBridge partner bus; an API
destination then POSTs each event to an HTTPS endpoint with an API-key header. Both transports
are at-least-once and unordered (CONTRACT.md §5), and Amazon tells integrators to keep polling
as a backup. So the dispatcher here delays, duplicates (same NotificationId), reorders and drops
notifications by seeded chance, each decision drawn at publish time so that a seed always gives
the same schedule.

Due times are on the sandbox clock: with a ManualClock a test advances time and calls `flush()`,
which delivers what is due and waits for it; with the real clock a thread delivers on time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from channels.sandbox.common.delivery import Delivery, DeliveryQueue

from .clock import Clock, iso

NOTIFICATION_TYPES = (
    "ORDER_CHANGE",
    "FBA_INVENTORY_AVAILABILITY_CHANGES",
    "LISTINGS_ITEM_MFN_QUANTITY_CHANGE",
    "FEED_PROCESSING_FINISHED",
    "REPORT_PROCESSING_FINISHED",
)
ENVELOPES = ("eventbridge", "raw")
# The bundled JSON schema of each notification type (tests validate every published one).
SCHEMAS = {
    "ORDER_CHANGE": "notifications/OrderChangeNotification.json",
    "FBA_INVENTORY_AVAILABILITY_CHANGES": "notifications/FBAInventoryAvailabilityChangeNotification.json",
    "LISTINGS_ITEM_MFN_QUANTITY_CHANGE": "notifications/ListingsItemMfnQuantityChange.json",
    "FEED_PROCESSING_FINISHED": "notifications/FeedProcessingFinishedNotification.json",
    "REPORT_PROCESSING_FINISHED": "notifications/ReportProcessingFinishedNotification.json",
}
# FEED/REPORT_PROCESSING_FINISHED use camelCase envelopes; the others PascalCase.
CAMEL_CASE = ("FEED_PROCESSING_FINISHED", "REPORT_PROCESSING_FINISHED")
PAYLOAD_VERSION = {
    "FEED_PROCESSING_FINISHED": "2020-09-04",
    "REPORT_PROCESSING_FINISHED": "2020-09-04",
}


def build_notification(
    notification_type: str,
    payload: dict,
    *,
    application_id: str,
    subscription_id: str,
    moment: datetime,
    notification_id: str | None = None,
) -> dict:
    """The notification JSON: what an SQS message body carries and EventBridge puts in `detail`.
    Every notification gets its own NotificationId (Amazon's examples share a placeholder)."""
    notification_id = notification_id or str(uuid.uuid4())
    stamp = iso(moment, millis=True)
    version = PAYLOAD_VERSION.get(notification_type, "1.0")
    if notification_type in CAMEL_CASE:
        return {
            "notificationVersion": version,
            "notificationType": notification_type,
            "payloadVersion": version,
            "eventTime": stamp,
            "payload": payload,
            "notificationMetadata": {
                "applicationId": application_id,
                "subscriptionId": subscription_id,
                "publishTime": stamp,
                "notificationId": notification_id,
            },
        }
    return {
        "NotificationVersion": "1.0",
        "NotificationType": notification_type,
        "PayloadVersion": version,
        "EventTime": stamp,
        "Payload": payload,
        "NotificationMetadata": {
            "ApplicationId": application_id,
            "SubscriptionId": subscription_id,
            "PublishTime": stamp,
            "NotificationId": notification_id,
        },
    }


def notification_id_of(notification: dict) -> str:
    meta = notification.get("NotificationMetadata") or notification.get("notificationMetadata")
    return meta.get("NotificationId") or meta.get("notificationId")


def notification_type_of(notification: dict) -> str:
    return notification.get("NotificationType") or notification.get("notificationType")


@dataclass
class Destination:
    """One endpoint receiving notifications, with its delivery behaviour.

    `delay_s` is the usual publish-to-delivery latency; with probability `late_rate` a
    notification is held for `late_delay_s` instead (late enough for polling to see the change
    first); `duplicate_rate` sends a second copy; `reorder_rate` holds one back behind later ones;
    `drop_rate` never sends it at all.
    """

    url: str
    envelope: str = "eventbridge"
    api_key_header: str = "x-api-key"
    api_key: str = "sandbox-api-key"
    notification_types: frozenset[str] | None = None  # None = every type the sandbox publishes
    delay_s: tuple[float, float] = (0.0, 0.05)
    late_rate: float = 0.0
    late_delay_s: tuple[float, float] = (30.0, 120.0)
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    drop_rate: float = 0.0
    max_retries: int = 5
    retry_base_s: float = 1.0
    timeout_s: float = 5.0
    destination_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    subscription_ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.envelope not in ENVELOPES:
            raise ValueError(f"envelope must be one of {ENVELOPES}")

    def wants(self, notification_type: str) -> bool:
        return self.notification_types is None or notification_type in self.notification_types

    def subscription_id(self, notification_type: str) -> str:
        # One subscription per (notification type, destination), as createSubscription makes.
        return self.subscription_ids.setdefault(notification_type, str(uuid.uuid4()))

    def as_json(self) -> dict:
        return {
            "destination_id": self.destination_id,
            "url": self.url,
            "envelope": self.envelope,
            "api_key_header": self.api_key_header,
            "notification_types": sorted(self.notification_types)
            if self.notification_types is not None
            else None,
            "delay_s": list(self.delay_s),
            "late_rate": self.late_rate,
            "late_delay_s": list(self.late_delay_s),
            "duplicate_rate": self.duplicate_rate,
            "reorder_rate": self.reorder_rate,
            "drop_rate": self.drop_rate,
            "max_retries": self.max_retries,
            "retry_base_s": self.retry_base_s,
            "timeout_s": self.timeout_s,
            "subscription_ids": dict(self.subscription_ids),
        }


@dataclass(order=True, kw_only=True)
class NotificationDelivery(Delivery):
    notification_type: str = field(compare=False)
    notification_id: str = field(compare=False)
    event_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class _Fate:
    """What the destination's seeded draws decide for one notification."""

    delay: float  # seconds after publishing
    late: bool
    dropped: bool
    duplicate_delay: float | None  # a second copy this long after the first; None: no copy


class Dispatcher(DeliveryQueue):
    def __init__(
        self,
        clock: Clock,
        *,
        application_id: str,
        aws_account_id: str,
        aws_region: str,
        seed: int = 0,
        post: Callable[[str, bytes, dict], int] | None = None,
        history: int = 10_000,
    ) -> None:
        super().__init__(
            clock=clock,
            seed=seed,
            post=post,
            history=history,
            thread_name="amazon-sandbox-notifications",
            stats=("published", "queued", "delivered", "failed_attempts", "given_up", "dropped"),
            # The sandbox clock may be a ManualClock that moves without telling us: poll.
            poll=0.05,
        )
        self.application_id = application_id
        self.aws_account_id = aws_account_id
        self.aws_region = aws_region
        self.published = self._log()
        self.dropped = self._log()

    # configuration ----------------------------------------------------------------------------
    @property
    def source(self) -> str:
        # The partner event source name: aws.partner/sellingpartnerapi.amazon.com/{account}/{app}
        return (
            f"aws.partner/sellingpartnerapi.amazon.com/{self.aws_account_id}/{self.application_id}"
        )

    @property
    def destinations(self) -> list[Destination]:
        return self._subscribed()

    # publishing -------------------------------------------------------------------------------
    def publish(
        self,
        notification_type: str,
        payload: dict,
        *,
        moment: datetime,
        drop: bool = False,
    ) -> list[dict]:
        """Build one notification per subscribed destination and schedule its delivery.

        Returns the notifications built (one per destination; each has its own id). `drop` is the
        fault injection: the notification is recorded as published but never delivered.
        """
        built = []
        with self._cond:
            now = self._clock()
            for destination in self._targets:
                if not destination.wants(notification_type):
                    continue
                built.append(
                    self._publish_to(
                        destination, notification_type, payload, moment=moment, now=now, drop=drop
                    )
                )
            self._wake()
        return built

    def _publish_to(
        self,
        destination: Destination,
        notification_type: str,
        payload: dict,
        *,
        moment: datetime,
        now: float,
        drop: bool,
    ) -> dict:
        """One destination's notification: recorded as published, then dropped or queued."""
        notification = build_notification(
            notification_type,
            payload,
            application_id=self.application_id,
            subscription_id=destination.subscription_id(notification_type),
            moment=moment,
        )
        notification_id = notification_id_of(notification)
        self.stats["published"] += 1
        record = {
            "notification_type": notification_type,
            "notification_id": notification_id,
            "destination_id": destination.destination_id,
            "notification": notification,
        }
        self.published.append(record)
        fate = self._draw_fate(destination, drop)
        if fate.dropped:
            self.stats["dropped"] += 1
            self.dropped.append({k: v for k, v in record.items() if k != "notification"})
            return notification
        body, event_id = self._body(destination, notification, notification_type, moment)
        self._enqueue(
            destination,
            notification_type,
            notification_id,
            body,
            event_id,
            now + fate.delay,
            late=fate.late,
        )
        if fate.duplicate_delay is not None:
            self._enqueue(
                destination,
                notification_type,
                notification_id,
                body,
                event_id,
                now + fate.delay + fate.duplicate_delay,
                duplicate=True,
                late=fate.late,
            )
        return notification

    def _draw_fate(self, destination: Destination, drop: bool) -> _Fate:
        # Every draw happens whatever the outcome, so one decision never shifts the
        # random stream of the ones after it.
        low, high = destination.delay_s
        delay = self._rng.uniform(low, high)
        late = self._rng.random() < destination.late_rate
        late_delay = self._rng.uniform(*destination.late_delay_s)
        reorder = self._rng.random() < destination.reorder_rate
        reorder_delay = self._rng.uniform(high, 3 * high + 0.05)
        duplicate = self._rng.random() < destination.duplicate_rate
        duplicate_delay = self._rng.uniform(low, high) + high
        dropped = drop or self._rng.random() < destination.drop_rate
        if late:
            delay = late_delay
        elif reorder:
            # Held back long enough that notifications published after it overtake it.
            delay += reorder_delay
        return _Fate(
            delay=delay,
            late=late,
            dropped=dropped,
            duplicate_delay=duplicate_delay if duplicate else None,
        )

    def _body(
        self, destination: Destination, notification: dict, notification_type: str, moment
    ) -> tuple[bytes, str | None]:
        if destination.envelope == "raw":
            return json.dumps(notification, separators=(",", ":")).encode("utf-8"), None
        event_id = str(uuid.uuid4())
        event = {
            "version": "0",
            "id": event_id,
            "detail-type": notification_type,
            "source": self.source,
            "account": self.aws_account_id,
            "time": iso(moment),
            "region": self.aws_region,
            "resources": [],
            "detail": notification,
        }
        return json.dumps(event, separators=(",", ":")).encode("utf-8"), event_id

    def _enqueue(
        self,
        destination: Destination,
        notification_type: str,
        notification_id: str,
        body: bytes,
        event_id: str | None,
        due: float,
        *,
        duplicate: bool = False,
        late: bool = False,
    ) -> None:
        self.stats["queued"] += 1
        self._push(
            NotificationDelivery(
                due=due,
                seq=next(self._seq),
                target=destination,
                notification_type=notification_type,
                notification_id=notification_id,
                body=body,
                event_id=event_id,
                duplicate=duplicate,
                late=late,
            )
        )

    # delivery ---------------------------------------------------------------------------------
    def _headers(self, delivery: NotificationDelivery) -> dict[str, str]:
        destination = delivery.target
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            destination.api_key_header: destination.api_key,
        }
        if destination.envelope == "eventbridge":
            headers["User-Agent"] = "Amazon/EventBridge/ApiDestinations"
        return headers

    def _attempt_json(
        self, delivery: NotificationDelivery, status: int | None, error: str | None
    ) -> dict:
        return {
            "notification_type": delivery.notification_type,
            "notification_id": delivery.notification_id,
            "event_id": delivery.event_id,
            "destination_id": delivery.target.destination_id,
            "attempt": delivery.attempt,
            "duplicate": delivery.duplicate,
            "late": delivery.late,
            "status": status,
            "error": error,
        }

    def _retry_in(self, delivery: NotificationDelivery, status: int | None) -> float | None:
        destination = delivery.target
        # EventBridge retries 5xx, 429 and transport errors with backoff; other 4xx are
        # permanent failures (they would go to a DLQ).
        retryable = status is None or status == 429 or status >= 500
        if not retryable or delivery.attempt > destination.max_retries:
            return None
        backoff = destination.retry_base_s * 2 ** (delivery.attempt - 1)
        return backoff * self._rng.uniform(0.8, 1.2)

    def flush(self, timeout: float = 10.0, *, everything: bool = False) -> dict:
        """Deliver what is pending now and wait until each was attempted: everything except the
        late notifications whose due time has not come (with `everything`, those too). Due
        order is kept, so duplicates and reordering still arrive the way the schedule says.
        Dropped notifications are never delivered; a failed delivery is retried after its
        backoff (at once with `everything`)."""
        with self._cond:
            if self._queue:
                self._ensure_thread()
            unfinished = self._flush(timeout, everything=everything)
            return {
                "flushed": unfinished == 0,
                "unfinished": unfinished,
                "pending": len(self._queue),
                **self.stats,
            }

    def pending(self) -> list[dict]:
        with self._cond:
            return [
                {
                    "notification_type": d.notification_type,
                    "notification_id": d.notification_id,
                    "due_in": round(d.due - self._clock(), 3),
                    "duplicate": d.duplicate,
                    "late": d.late,
                    "attempt": d.attempt,
                }
                for d in sorted(self._queue)
            ]

    def published_notifications(self, notification_type: str | None = None) -> list[dict]:
        with self._cond:
            return [
                r["notification"]
                for r in self.published
                if notification_type is None or r["notification_type"] == notification_type
            ]
