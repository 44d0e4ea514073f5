"""Mutations: the 2026-04 inventory writes with their @idempotent keys, fulfillmentCreate and
orderCancel."""

from __future__ import annotations

import json
from collections.abc import Callable

from graphql import GraphQLResolveInfo, VariableNode, value_from_ast_untyped

from channels.sandbox.common.errors import SandboxError
from channels.sandbox.shopify.model import ShopifySandbox
from channels.sandbox.shopify.shop.records import IdempotentRecord, Order, parse_gid

from .base import MAX_INPUT_SIZE, bad_request, resolves, sandbox_of
from .views import fulfillment_view, group_view, level_view

IDEMPOTENT_MUTATIONS = ("inventorySetQuantities", "inventoryAdjustQuantities", "inventoryActivate")


def idempotency_key(info: GraphQLResolveInfo) -> str:
    """The key of the field's @idempotent directive; 2026-04 refuses these mutations without it.

    Shopify's exact error for a missing directive is not documented; the sandbox answers a
    top-level error with extensions.code BAD_REQUEST and this message, and the field is null.
    """
    node = info.field_nodes[0]
    for directive in node.directives or ():
        if directive.name.value != "idempotent":
            continue
        for argument in directive.arguments or ():
            if argument.name.value == "key":
                value = argument.value
                if isinstance(value, VariableNode):
                    key = info.context.variables.get(value.name.value)
                else:
                    key = value_from_ast_untyped(value)
                if not isinstance(key, str) or not key.strip():
                    raise bad_request(
                        "The @idempotent directive requires a non-empty key.",
                        problem="IDEMPOTENCY_KEY_BLANK",
                    )
                return key
    raise bad_request(
        f"The @idempotent directive is required for {info.field_name} "
        f'(API version 2026-04 and later): add @idempotent(key: "<unique key>") to the field.',
        problem="IDEMPOTENT_DIRECTIVE_MISSING",
        documentation="https://shopify.dev/docs/api/usage/idempotent-requests",
    )


def _fingerprint(field_name: str, args: dict) -> str:
    return field_name + ":" + json.dumps(args, sort_keys=True, default=str)


def run_idempotent(info: GraphQLResolveInfo, args: dict, run: Callable[[], dict]) -> dict:
    """Same key + same arguments replays the first answer; different arguments are refused."""
    sandbox = sandbox_of(info)
    key = idempotency_key(info)
    fingerprint = _fingerprint(info.field_name, args)
    record = sandbox.idempotency.get(key)
    if record is not None:
        if record.fingerprint != fingerprint:
            return {
                "userErrors": [
                    {
                        "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                        "field": None,
                        "message": "The same idempotency key cannot be used with different "
                        "operation parameters.",
                    }
                ],
                "_mismatch": True,
            }
        info.context.notes.append("idempotent_replay")
        return record.result
    result = run()
    sandbox.idempotency[key] = IdempotentRecord(info.field_name, fingerprint, result)
    return result


def _require_change_from(rows: list[dict], path: str) -> None:
    if len(rows) > MAX_INPUT_SIZE:
        raise bad_request(
            f"The input array size of {len(rows)} is greater than the maximum allowed of "
            f"{MAX_INPUT_SIZE}.",
            code="MAX_INPUT_SIZE_EXCEEDED",
        )
    missing = [str(i) for i, row in enumerate(rows) if "changeFromQuantity" not in row]
    if missing:
        raise bad_request(
            f"changeFromQuantity is required on every {path} entry (API version 2026-04 and "
            f"later); pass null to skip the compare. Missing at index {', '.join(missing)}.",
            problem="CHANGE_FROM_QUANTITY_MISSING",
        )


def _inventory_payload(group: dict | None, errors: list[dict]) -> dict:
    return {
        "inventoryAdjustmentGroup": group_view(group) if group else None,
        "userErrors": errors,
    }


@resolves("Mutation", "inventorySetQuantities")
def _inventory_set_quantities(_, info, input):
    _require_change_from(input["quantities"], "quantities")

    def run() -> dict:
        group, errors = sandbox_of(info).set_quantities(
            name=input["name"],
            reason=input["reason"],
            quantities=input["quantities"],
            reference_document_uri=input.get("referenceDocumentUri"),
            persist=not info.context.lost_write,
        )
        return _inventory_payload(group, errors)

    result = run_idempotent(info, {"input": input}, run)
    return {"inventoryAdjustmentGroup": None, **result} if result.get("_mismatch") else result


@resolves("Mutation", "inventoryAdjustQuantities")
def _inventory_adjust_quantities(_, info, input):
    _require_change_from(input["changes"], "changes")

    def run() -> dict:
        group, errors = sandbox_of(info).adjust_quantities(
            name=input["name"],
            reason=input["reason"],
            changes=input["changes"],
            reference_document_uri=input.get("referenceDocumentUri"),
            persist=not info.context.lost_write,
        )
        return _inventory_payload(group, errors)

    result = run_idempotent(info, {"input": input}, run)
    return {"inventoryAdjustmentGroup": None, **result} if result.get("_mismatch") else result


@resolves("Mutation", "inventoryActivate")
def _inventory_activate(_, info, **args):
    def run() -> dict:
        sandbox = sandbox_of(info)
        item_id = parse_gid(args["inventoryItemId"], "InventoryItem")
        location_id = parse_gid(args["locationId"], "Location")
        if item_id not in sandbox.items:
            return {
                "inventoryLevel": None,
                "userErrors": [_error(["inventoryItemId"], "Inventory item does not exist")],
            }
        if location_id not in sandbox.locations:
            return {
                "inventoryLevel": None,
                "userErrors": [_error(["locationId"], "Location does not exist")],
            }
        level = sandbox.activate(item_id, location_id)
        available = args.get("available")
        if available is not None and not info.context.lost_write:
            sandbox.admin_edit(item_id, location_id, available=available)
        return {"inventoryLevel": level_view(level), "userErrors": []}

    result = run_idempotent(info, dict(args), run)
    return {"inventoryLevel": None, **result} if result.get("_mismatch") else result


def _error(path: list[str] | None, message: str) -> dict:
    return {"field": path, "message": message}


@resolves("Mutation", "fulfillmentCreate")
def _fulfillment_create(_, info, fulfillment, message=None):
    sandbox = sandbox_of(info)
    groups = fulfillment["lineItemsByFulfillmentOrder"]
    if not groups:
        return _fulfillment_refused(
            ["fulfillment", "lineItemsByFulfillmentOrder"],
            "must contain at least one fulfillment order",
        )
    orders, lines, refusal = _fulfillment_groups(sandbox, groups)
    if refusal is not None:
        return refusal
    if len({o.id for o in orders}) > 1:
        return _fulfillment_refused(
            ["fulfillment"], "All fulfillment orders must belong to the same order and location."
        )
    tracking = fulfillment.get("trackingInfo") or {}
    numbers = list(
        tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    )
    urls = list(tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else []))
    try:
        created = sandbox.fulfill(
            orders[0],
            lines,
            tracking_company=tracking.get("company"),
            tracking_numbers=numbers,
            tracking_urls=urls,
        )
    except SandboxError as exc:
        return _fulfillment_refused(["fulfillment"], exc.message)
    return {"fulfillment": fulfillment_view(sandbox, orders[0], created), "userErrors": []}


def _fulfillment_refused(path: list[str], message: str) -> dict:
    return {"fulfillment": None, "userErrors": [_error(path, message)]}


def _fulfillment_groups(
    sandbox: ShopifySandbox, groups: list[dict]
) -> tuple[list[Order], list[dict] | None, dict | None]:
    """The orders behind the fulfillment orders, the lines asked for (None: every open line),
    and the refusal when a fulfillment order or one of its lines cannot be fulfilled."""
    orders: list[Order] = []
    lines: list[dict] | None = []
    for index, group in enumerate(groups):
        number = parse_gid(group["fulfillmentOrderId"], "FulfillmentOrder")
        order = next((o for o in sandbox.orders.values() if o.fulfillment_order_id == number), None)
        path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index), "fulfillmentOrderId"]
        if order is None:
            return orders, lines, _fulfillment_refused(path, "Fulfillment order does not exist.")
        if order.fulfillment_order_status not in ("OPEN", "IN_PROGRESS"):
            refusal = _fulfillment_refused(path, "Fulfillment order is not in an open state.")
            return orders, lines, refusal
        orders.append(order)
        requested = group.get("fulfillmentOrderLineItems")
        if requested is None:
            lines = None
            continue
        refusal = _requested_lines(order, index, requested, lines)
        if refusal is not None:
            return orders, lines, refusal
    return orders, lines, None


def _requested_lines(
    order: Order, index: int, requested: list[dict], lines: list[dict] | None
) -> dict | None:
    """Add the order lines behind the requested fulfillment order lines to `lines` (unless it
    is None); the refusal when one does not exist."""
    by_fo_line = {v: k for k, v in order.fulfillment_order_line_ids.items()}
    for line_index, row in enumerate(requested):
        fo_line = parse_gid(row["id"], "FulfillmentOrderLineItem")
        if fo_line not in by_fo_line:
            return _fulfillment_refused(
                [
                    "fulfillment",
                    "lineItemsByFulfillmentOrder",
                    str(index),
                    "fulfillmentOrderLineItems",
                    str(line_index),
                    "id",
                ],
                "Fulfillment order line item does not exist.",
            )
        if lines is not None:
            lines.append({"line_item_id": by_fo_line[fo_line], "quantity": row["quantity"]})
    return None


@resolves("Mutation", "orderCancel")
def _order_cancel(
    _, info, orderId, reason, restock, refundMethod=None, notifyCustomer=None, staffNote=None
):
    sandbox = sandbox_of(info)

    def refused(code: str, message: str) -> dict:
        return {
            "job": None,
            "orderCancelUserErrors": [{"code": code, "field": ["orderId"], "message": message}],
            "userErrors": [{"field": ["orderId"], "message": message}],
        }

    number = parse_gid(orderId, "Order")
    order = sandbox.orders.get(number) if number is not None else None
    if order is None:
        return refused("NOT_FOUND", "Order does not exist.")
    refund_money = bool(
        refundMethod
        and (
            refundMethod.get("originalPaymentMethodsRefund")
            or refundMethod.get("storeCreditRefund")
        )
    )
    try:
        sandbox.cancel(
            order, restock=restock, reason=reason.lower(), staff_note=staffNote, refund=refund_money
        )
    except SandboxError as exc:
        return refused("INVALID", exc.message)
    job = sandbox.create_job()
    # Shopify answers before its cancel job finishes; `job(id)` reports done afterwards.
    return {
        "job": {"__typename": "Job", "id": job["id"], "done": False, "query": None},
        "orderCancelUserErrors": [],
        "userErrors": [],
    }
