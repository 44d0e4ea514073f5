"""The JSON shapes the sandbox answers with, one function per official definition.

Each builder follows its definition in the bundled model (named in the docstring); the tests run
every answer through `spec.validate_response`, so a shape that drifts from the model fails there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from .clock import iso
from .marketplaces import MARKETPLACES

if TYPE_CHECKING:
    from .world.listings import ListingsMixin
    from .world.records import FbaStock, Feed, Listing, Order, Report

NOTIFICATION_STATUS = {
    "PENDING": "Pending",
    "UNSHIPPED": "Unshipped",
    "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped",
    "CANCELLED": "Canceled",
}


def errors(code: str, message: str, details: str = "") -> dict:
    """ErrorList: `{"errors": [{code, message, details}]}`, the body of every 4xx/5xx."""
    return {"errors": [{"code": code, "message": message, "details": details}]}


def issue(code: str, message: str, attributes: list[str], category: str) -> dict:
    """listingsItems Issue (code, message, severity, attributeNames, categories)."""
    return {
        "code": code,
        "message": message,
        "severity": "ERROR",
        "attributeNames": attributes,
        "categories": [category],
    }


def money(amount: Decimal, currency: str) -> dict:
    return {"amount": f"{amount:.2f}", "currencyCode": currency}


# Listings Items 2021-08-01 ------------------------------------------------------------------------
def listing_item(
    sandbox: ListingsMixin, listings: list[Listing], included: set[str], issue_locale: str | None
) -> dict:
    """Item: one SKU across the requested marketplaces (`listings` share seller and SKU)."""
    first = listings[0]
    item: dict = {"sku": first.sku}
    if "summaries" in included:
        item["summaries"] = [summary(sandbox, listing) for listing in listings]
    if "attributes" in included:
        item["attributes"] = _attributes(listings)
    if "issues" in included:
        item["issues"] = [i for listing in listings for i in listing_issues(listing)]
    if "offers" in included:
        item["offers"] = [
            {
                "marketplaceId": listing.marketplace_id,
                "offerType": "B2C",
                "price": money(listing.price, _currency(listing.marketplace_id)),
            }
            for listing in listings
            if listing.price is not None
        ]
    if "fulfillmentAvailability" in included:
        item["fulfillmentAvailability"] = [_availability(sandbox, listing) for listing in listings]
    if "productTypes" in included:
        item["productTypes"] = [
            {"marketplaceId": listing.marketplace_id, "productType": listing.product_type}
            for listing in listings
        ]
    if "relationships" in included:
        item["relationships"] = [
            {"marketplaceId": listing.marketplace_id, "relationships": []} for listing in listings
        ]
    if "procurement" in included:
        item["procurement"] = []
    return item


def _currency(marketplace_id: str) -> str:
    return MARKETPLACES[marketplace_id][3]


def summary(sandbox: ListingsMixin, listing: Listing) -> dict:
    """ItemSummaryByMarketplace."""
    status = []
    if not listing.incomplete and listing.asin:
        status.append("DISCOVERABLE")
        if sandbox.buyable_quantity(listing) > 0:
            status.append("BUYABLE")
    summary = {
        "marketplaceId": listing.marketplace_id,
        "productType": listing.product_type,
        "conditionType": listing.condition_type,
        "status": status,
        "createdDate": iso(listing.created),
        "lastUpdatedDate": iso(listing.updated),
    }
    if listing.asin:
        summary["asin"] = listing.asin
    if listing.item_name:
        summary["itemName"] = listing.item_name
    if listing.fn_sku:
        summary["fnSku"] = listing.fn_sku
    return summary


def _availability(sandbox: ListingsMixin, listing: Listing) -> dict:
    """FulfillmentAvailability: Amazon reports the FBA fulfillable count for AFN offers."""
    entry: dict = {"fulfillmentChannelCode": listing.fulfillment_channel_code}
    if listing.afn:
        stock = sandbox.fba.get(listing.key)
        entry["quantity"] = stock["fulfillable"] if stock else 0
    elif listing.quantity is not None:
        entry["quantity"] = listing.quantity
    return entry


def _attributes(listings: list[Listing]) -> dict:
    """ItemAttributes: the snake_case attribute values, each tagged with its marketplace."""
    attributes: dict[str, list] = {}
    for listing in listings:
        mp = listing.marketplace_id
        if listing.item_name:
            attributes.setdefault("item_name", []).append(
                {"value": listing.item_name, "language_tag": "en_US", "marketplace_id": mp}
            )
        attributes.setdefault("condition_type", []).append(
            {"value": listing.condition_type, "marketplace_id": mp}
        )
        availability: dict = {
            "fulfillment_channel_code": listing.fulfillment_channel_code,
            "marketplace_id": mp,
        }
        if not listing.afn and listing.quantity is not None:
            availability["quantity"] = listing.quantity
        if listing.lead_time_to_ship_max_days is not None:
            availability["lead_time_to_ship_max_days"] = listing.lead_time_to_ship_max_days
        attributes.setdefault("fulfillment_availability", []).append(availability)
        if listing.price is not None:
            attributes.setdefault("purchasable_offer", []).append(
                {
                    "currency": _currency(mp),
                    "our_price": [{"schedule": [{"value_with_tax": float(listing.price)}]}],
                    "marketplace_id": mp,
                }
            )
        for name, values in listing.attributes.items():
            attributes.setdefault(name, []).extend(values)
    return attributes


def listing_issues(listing: Listing) -> list[dict]:
    found = [dict(i, marketplaceIds=[listing.marketplace_id]) for i in listing.late_issues]
    if listing.incomplete:
        for attribute in ("item_name", "condition_type", "externally_assigned_product_identifier"):
            found.append(
                {
                    "code": "90220",
                    "message": f"'{attribute}' is required but not supplied.",
                    "severity": "ERROR",
                    "attributeNames": [attribute],
                    "categories": ["MISSING_ATTRIBUTE"],
                    "marketplaceIds": [listing.marketplace_id],
                }
            )
    return found


# Orders 2026-01-01 --------------------------------------------------------------------------------
def order_2026(order: Order, included: set[str]) -> dict:
    """Order of orders_2026-01-01: items always; other datasets only when `includedData` asks
    (so without FULFILLMENT there is no fulfillmentStatus, as in Amazon's own examples)."""
    data: dict = {
        "orderId": order.order_id,
        "createdTime": iso(order.created),
        "lastUpdatedTime": iso(order.updated),
        "programs": list(order.programs),
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": order.marketplace_id,
            "marketplaceName": _marketplace_name(order.marketplace_id),
        },
        "orderItems": [_order_item(order, item, included) for item in order.items],
    }
    if "BUYER" in included:
        data["buyer"] = {"buyerName": order.buyer_name, "buyerEmail": order.buyer_email}
    if "RECIPIENT" in included:
        data["recipient"] = {
            "deliveryAddress": {
                "name": order.buyer_name,
                "addressLine1": "410 Terry Ave N",
                "city": order.city,
                **({"stateOrRegion": order.state_or_region} if order.state_or_region else {}),
                "postalCode": order.postal_code,
                "countryCode": _country(order.marketplace_id),
                **({"phone": order.phone} if order.phone else {}),
                "addressType": "RESIDENTIAL",
            }
        }
    if "PROCEEDS" in included and order.status != "PENDING":
        # Like v0, pricing is absent while an order is pending.
        total = sum((i.unit_price * i.quantity for i in order.items), Decimal(0))
        data["proceeds"] = {"grandTotal": money(total, order.currency)}
    if "FULFILLMENT" in included:
        data["fulfillment"] = {
            "fulfillmentStatus": order.status,
            "fulfilledBy": order.fulfilled_by,
            "fulfillmentServiceLevel": order.service_level,
            "shipByWindow": {
                "earliestDateTime": iso(order.created),
                "latestDateTime": iso(order.created + timedelta(days=2)),
            },
        }
    if "PACKAGES" in included and not order.afn and order.packages:
        data["packages"] = [
            {
                "packageReferenceId": package.package_reference_id,
                "createdTime": iso(package.ship_time),
                "packageStatus": {"status": "SHIPPED"},
                "carrier": package.carrier,
                "shipTime": iso(package.ship_time),
                "trackingNumber": package.tracking_number,
                **({"shippingService": package.shipping_method} if package.shipping_method else {}),
                "packageItems": [
                    {"orderItemId": item_id, "quantity": quantity}
                    for item_id, quantity in package.items
                ],
            }
            for package in order.packages
        ]
    return data


def _order_item(order: Order, item, included: set[str]) -> dict:
    entry: dict = {
        "orderItemId": item.order_item_id,
        "quantityOrdered": item.quantity,
        "product": {
            "sellerSku": item.sku,
            "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
            "price": {"unitPrice": money(item.unit_price, order.currency)},
        },
    }
    if item.asin:
        entry["product"]["asin"] = item.asin
    if item.title:
        entry["product"]["title"] = item.title
    if "PROCEEDS" in included and order.status != "PENDING":
        entry["proceeds"] = {
            "proceedsTotal": money(item.unit_price * item.quantity, order.currency)
        }
    if "FULFILLMENT" in included:
        unshipped = 0 if order.status == "CANCELLED" else item.quantity - item.shipped
        entry["fulfillment"] = {"quantityFulfilled": item.shipped, "quantityUnfulfilled": unshipped}
    if "CANCELLATION" in included and (item.cancel_requested or order.status == "CANCELLED"):
        cancellation: dict = {}
        if item.cancel_requested:
            cancellation["cancellationRequest"] = {
                "requester": "BUYER",
                "cancelReason": item.cancel_reason or "",
            }
        if order.status == "CANCELLED" and order.cancelled_by:
            cancellation["cancellationExecution"] = {
                "cancelledBy": order.cancelled_by,
                "cancelReason": order.cancel_reason or "",
            }
        entry["cancellation"] = cancellation
    return entry


def _marketplace_name(marketplace_id: str) -> str:
    return MARKETPLACES[marketplace_id][1]


def _country(marketplace_id: str) -> str:
    return MARKETPLACES[marketplace_id][0]


def order_change_payload(order: Order, change_type: str, reason: str, moment: datetime) -> dict:
    """Payload of ORDER_CHANGE (schemas/notifications/OrderChangeNotification.json)."""
    shipped = sum(i.shipped for i in order.items)
    unshipped = (
        0 if order.status == "CANCELLED" else sum(i.quantity - i.shipped for i in order.items)
    )
    return {
        "OrderChangeNotification": {
            "NotificationLevel": "OrderLevel",
            "SellerId": order.seller_id,
            "AmazonOrderId": order.order_id,
            "OrderChangeType": change_type,
            "OrderChangeTrigger": {"TimeOfOrderChange": iso(moment), "ChangeReason": reason},
            "Summary": {
                "MarketplaceId": order.marketplace_id,
                "OrderStatus": NOTIFICATION_STATUS[order.status],
                "PurchaseDate": iso(order.created),
                "DestinationPostalCode": order.postal_code,
                "FulfillmentType": "AFN" if order.afn else "MFN",
                "OrderType": "StandardOrder",
                "NumberOfItemsShipped": shipped,
                "NumberOfItemsUnshipped": unshipped,
                "EarliestShipDate": iso(order.created),
                "LatestShipDate": iso(order.created + timedelta(days=2)),
                "OrderPrograms": [],
                "ShippingPrograms": [],
                "OrderItems": [
                    {
                        "OrderItemId": item.order_item_id,
                        "SellerSKU": item.sku,
                        "SupplySourceId": None,
                        "OrderItemStatus": "Shipped"
                        if item.shipped == item.quantity
                        else "Unshipped",
                        "Quantity": item.quantity,
                        "QuantityShipped": item.shipped,
                        "IsBuyerRequestedCancel": item.cancel_requested,
                    }
                    for item in order.items
                ],
            },
        }
    }


# FBA inventory v1 ---------------------------------------------------------------------------------
def inventory_summary(stock: FbaStock, details: bool, condition: str = "NewItem") -> dict:
    """InventorySummary; `inventoryDetails` only with details=true, like the real API."""
    b = stock.buckets
    summary: dict = {
        "asin": stock.asin or "",
        "fnSku": stock.fn_sku,
        "sellerSku": stock.sku,
        "condition": condition,
        "lastUpdatedTime": iso(stock.updated),
        "productName": stock.product_name,
        "totalQuantity": stock.total,
        "stores": [],
    }
    if details:
        summary["inventoryDetails"] = {
            "fulfillableQuantity": b["fulfillable"],
            "inboundWorkingQuantity": b["inbound_working"],
            "inboundShippedQuantity": b["inbound_shipped"],
            "inboundReceivingQuantity": b["inbound_receiving"],
            "reservedQuantity": {
                "totalReservedQuantity": stock.reserved,
                "pendingCustomerOrderQuantity": b["pending_customer_order"],
                "pendingTransshipmentQuantity": b["pending_transshipment"],
                "fcProcessingQuantity": b["fc_processing"],
            },
            "researchingQuantity": {
                "totalResearchingQuantity": stock.researching,
                "researchingQuantityBreakdown": [
                    {
                        "name": "researchingQuantityInShortTerm",
                        "quantity": b["researching_short_term"],
                    },
                    {"name": "researchingQuantityInMidTerm", "quantity": b["researching_mid_term"]},
                    {
                        "name": "researchingQuantityInLongTerm",
                        "quantity": b["researching_long_term"],
                    },
                ],
            },
            "unfulfillableQuantity": {
                "totalUnfulfillableQuantity": stock.unfulfillable,
                "customerDamagedQuantity": b["customer_damaged"],
                "warehouseDamagedQuantity": b["warehouse_damaged"],
                "distributorDamagedQuantity": b["distributor_damaged"],
                "carrierDamagedQuantity": b["carrier_damaged"],
                "defectiveQuantity": b["defective"],
                "expiredQuantity": b["expired"],
            },
        }
    return summary


# Feeds and Reports 2021-06-30 --------------------------------------------------------------------
def feed_json(feed: Feed) -> dict:
    """Feed."""
    data = {
        "feedId": feed.feed_id,
        "feedType": feed.feed_type,
        "marketplaceIds": list(feed.marketplace_ids),
        "createdTime": iso(feed.created),
        "processingStatus": feed.status,
    }
    if feed.started:
        data["processingStartTime"] = iso(feed.started)
    if feed.ended:
        data["processingEndTime"] = iso(feed.ended)
    if feed.result_document_id:
        data["resultFeedDocumentId"] = feed.result_document_id
    return data


def report_json(report: Report) -> dict:
    """Report."""
    data = {
        "reportId": report.report_id,
        "reportType": report.report_type,
        "marketplaceIds": list(report.marketplace_ids),
        "createdTime": iso(report.created),
        "processingStatus": report.status,
    }
    if report.data_start:
        data["dataStartTime"] = iso(report.data_start)
    if report.data_end:
        data["dataEndTime"] = iso(report.data_end)
    if report.started:
        data["processingStartTime"] = iso(report.started)
    if report.ended:
        data["processingEndTime"] = iso(report.ended)
    if report.document_id:
        data["reportDocumentId"] = report.document_id
    return data
