"""Listing submissions: patchListingsItem and the messages of a JSON_LISTINGS_FEED, checked
against the listing, answered ACCEPTED or INVALID, and applied later on the sandbox clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from channels.sandbox.amazon import payloads
from channels.sandbox.amazon.clock import iso

from .base import WorldBase
from .records import MFN_CHANNEL, Listing, is_afn

# What a quantity submission rejected after ACCEPTED leaves on its listing (`reject_patches`).
LATE_AVAILABILITY_ISSUE = payloads.issue(
    "8572",
    "The merchant quantity could not be updated: the offer is not available for this "
    "fulfillment channel in this marketplace.",
    ["fulfillment_availability"],
    "INVALID_ATTRIBUTE",
)


class SubmissionsMixin(WorldBase):
    def plan_patches(
        self, seller_id: str, sku: str, marketplace_ids: list[str], patches: list[dict]
    ) -> tuple[list[dict], list[Callable[[], None]]]:
        """Check a list of JSON Patch operations against the listing. Returns Amazon-style issues
        (any ERROR makes the submission INVALID) and the changes to apply once accepted."""
        issues: list[dict] = []
        changes: list[Callable[[], None]] = []
        for marketplace_id in marketplace_ids:
            listing = self.listings.get((seller_id, sku, marketplace_id))
            for index, patch in enumerate(patches):
                path = patch.get("path", "")
                name = path.removeprefix("/attributes/")
                if not path.startswith("/attributes/") or "/" in name or not name:
                    issues.append(
                        payloads.issue(
                            "4000001",
                            f"The patch path '{path}' at index {index} is invalid: only "
                            "top-level attributes can be patched.",
                            [name or path],
                            "INVALID_ATTRIBUTE",
                        )
                    )
                    continue
                if name == "fulfillment_availability":
                    self._plan_availability(
                        seller_id, sku, marketplace_id, listing, patch, issues, changes
                    )
                else:
                    changes.append(
                        _generic_change(self, seller_id, sku, marketplace_id, name, patch)
                    )
        return issues, changes

    def _plan_availability(self, seller_id, sku, marketplace_id, listing, patch, issues, changes):
        op = patch.get("op")
        values = patch.get("value") or []
        if op == "delete":
            # Deleting the attribute takes the merchant offer off sale; FBA stock is Amazon's.
            if listing is None or not listing.afn:
                changes.append(
                    _availability_change(self, seller_id, sku, marketplace_id, "replace", 0, None)
                )
            return
        if not values:
            issues.append(_missing_channel_issue())
            return
        for value in values:
            issue = self._availability_issue(sku, listing, value)
            if issue is not None:
                issues.append(issue)
                continue
            quantity = value.get("quantity")
            if is_afn(value["fulfillment_channel_code"]):
                continue
            if quantity is None and op == "merge":
                continue  # a merge only touches the fields it names
            lead = value.get("lead_time_to_ship_max_days")
            changes.append(
                _availability_change(self, seller_id, sku, marketplace_id, op, quantity, lead)
            )

    def _availability_issue(self, sku: str, listing: Listing | None, value: dict) -> dict | None:
        """What is wrong with one fulfillment_availability value, if anything."""
        code = value.get("fulfillment_channel_code")
        if not isinstance(code, str) or not code:
            return _missing_channel_issue()
        quantity = value.get("quantity")
        if quantity is not None and (
            not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0
        ):
            return payloads.issue(
                "4000001",
                "The provided value for 'Quantity' is invalid.",
                ["fulfillment_availability"],
                "INVALID_ATTRIBUTE",
            )
        if is_afn(code):
            if quantity is None:
                return None
            # Amazon owns FBA quantity (seen as INVALID 4000003 in the wild).
            return payloads.issue(
                "4000003",
                f"Quantity cannot be provided for the Amazon fulfillment channel "
                f"'{code}'. Amazon manages the quantity of Amazon-fulfilled offers.",
                ["fulfillment_availability"],
                "INVALID_ATTRIBUTE",
            )
        afn_listing = listing is not None and listing.afn
        if afn_listing and quantity is not None and self.config.afn_merchant_quantity == "reject":
            # Sandbox option: Amazon itself accepts and converts (see _convert_to_mfn).
            return payloads.issue(
                "90000900",
                f"The SKU '{sku}' is fulfilled by Amazon "
                f"({listing.fulfillment_channel_code}); a merchant (DEFAULT) quantity "
                "would switch it to merchant-fulfilled.",
                ["fulfillment_availability"],
                "INVALID_ATTRIBUTE",
            )
        return None

    def submit_patches(
        self,
        seller_id: str,
        sku: str,
        marketplace_ids: list[str],
        product_type: str,
        patches: list[dict],
        *,
        preview: bool = False,
        source: str = "patchListingsItem",
        delay: float | None = None,
    ) -> dict:
        """patchListingsItem: ACCEPTED (queued, applied after `patch_apply_delay`) or INVALID.
        A patch of an unknown SKU is ACCEPTED, as Amazon does: it creates an offer-only listing
        that is not buyable (selling-partner-api-docs#3748)."""
        issues, changes = self.plan_patches(seller_id, sku, marketplace_ids, patches)
        submission_id = uuid.uuid4().hex
        errors = [i for i in issues if i["severity"] == "ERROR"]
        if errors:
            status = "INVALID"
        elif preview:
            status = "VALID"
        else:
            status = "ACCEPTED"
        record = {
            "submission_id": submission_id,
            "source": source,
            "seller_id": seller_id,
            "sku": sku,
            "marketplace_ids": list(marketplace_ids),
            "product_type": product_type,
            "patches": patches,
            "status": status,
            "issues": issues,
            "applied": False,
            "lost": False,
            "accepted_at": iso(self.now()),
        }
        self.submissions.append(record)
        if status == "ACCEPTED":
            delay = self.config.patch_apply_delay if delay is None else delay
            self._process_accepted(record, changes, marketplace_ids, delay)
        return {"submission_id": submission_id, "status": status, "issues": issues}

    def _process_accepted(
        self, record: dict, changes: list, marketplace_ids: list[str], delay: float
    ) -> None:
        """An ACCEPTED submission is lost, rejected in processing, or applied after `delay`."""
        seller_id, sku = record["seller_id"], record["sku"]
        if self.faults.take_one("lost_patch", ("patchListingsItem", record["source"], sku)):
            record["lost"] = True  # answers ACCEPTED, never applies
        elif self.faults.take_one("rejected_patch", ("patchListingsItem", record["source"], sku)):
            record["lost"] = True

            def reject(record: dict = record) -> None:
                # Found in processing: the listing carries the issue, the value is not set.
                record["rejected_at"] = iso(self.now())
                self._set_late_issues(seller_id, sku, marketplace_ids, [LATE_AVAILABILITY_ISSUE])

            self.scheduler.at(delay, f"reject patch {sku}", reject)
        else:
            for marketplace_id in marketplace_ids:
                if (seller_id, sku, marketplace_id) not in self.listings:
                    changes.insert(
                        0,
                        _create_incomplete(
                            self, seller_id, sku, marketplace_id, record["product_type"]
                        ),
                    )

            def apply(record: dict = record, changes: list = changes) -> None:
                for change in changes:
                    change()
                # What an applied submission resolves.
                self._set_late_issues(seller_id, sku, marketplace_ids, [])
                record["applied"] = True
                record["applied_at"] = iso(self.now())

            if delay <= 0:
                apply()
            else:
                self.scheduler.at(delay, f"patch {sku}", apply)


def _availability_change(
    sandbox: SubmissionsMixin,
    seller_id: str,
    sku: str,
    marketplace_id: str,
    op: str,
    quantity: int | None,
    lead: int | None,
) -> Callable[[], None]:
    def apply() -> None:
        listing = sandbox.listings.get((seller_id, sku, marketplace_id))
        if listing is None:
            return
        if listing.afn and quantity is not None:
            sandbox._convert_to_mfn(listing)
        if op == "replace":
            # replace swaps the whole value: fields not sent are dropped.
            listing.lead_time_to_ship_max_days = lead
            listing.restock_date = None
        elif lead is not None:
            listing.lead_time_to_ship_max_days = lead
        if quantity is not None:
            sandbox._set_listing_quantity(listing, quantity)
        listing.updated = sandbox.now()

    return apply


def _generic_change(
    sandbox: SubmissionsMixin, seller_id: str, sku: str, marketplace_id: str, name: str, patch: dict
) -> Callable[[], None]:
    def apply() -> None:
        listing = sandbox.listings.get((seller_id, sku, marketplace_id))
        if listing is None:
            return
        if patch.get("op") == "delete":
            listing.attributes.pop(name, None)
        else:
            listing.attributes[name] = list(patch.get("value") or [])
            if name == "item_name" and patch.get("value"):
                listing.item_name = str(patch["value"][0].get("value", listing.item_name))
        listing.updated = sandbox.now()

    return apply


def _create_incomplete(
    sandbox: SubmissionsMixin, seller_id: str, sku: str, marketplace_id: str, product_type: str
) -> Callable[[], None]:
    def apply() -> None:
        if (seller_id, sku, marketplace_id) in sandbox.listings:
            return
        now = sandbox.now()
        listing = Listing(
            seller_id=seller_id,
            sku=sku,
            marketplace_id=marketplace_id,
            asin=None,
            product_type=product_type,
            item_name=None,
            fulfillment_channel_code=MFN_CHANNEL,
            quantity=None,
            price=None,
            created=now,
            updated=now,
            incomplete=True,
        )
        sandbox.listings[listing.key] = listing

    return apply


def _missing_channel_issue() -> dict:
    return payloads.issue(
        "99022",
        "The field 'fulfillment_channel_code' for the attribute "
        "'fulfillment_availability' does not have enough values. The required "
        "minimum is '1' value(s).",
        ["fulfillment_availability"],
        "MISSING_ATTRIBUTE",
    )
