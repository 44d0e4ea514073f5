"""The console's stock actions: what a person on the warehouse floor records by hand."""

from __future__ import annotations

import uuid

from django import forms
from django.db.models import Q

from .models import EventKind, Location, Sku
from .rules import KINDS_NEEDING_A_REASON, MAX_QUANTITY

STOCK_ACTIONS = [
    (EventKind.RECEIPT.value, "Receipt (units arrived)"),
    (EventKind.WRITE_OFF.value, "Write-off (units lost or damaged)"),
    (EventKind.CYCLE_COUNT.value, "Cycle count (units counted on the shelf)"),
    (EventKind.TRANSFER_OUT.value, "Transfer out (units leave for another location)"),
    (EventKind.TRANSFER_IN.value, "Transfer in (units of a transfer arrived)"),
]


class StockActionForm(forms.Form):
    """One line of stock moved by hand. `token` is drawn when the form is shown: a second
    submit of the same form (a double click, a resent request) records nothing more."""

    kind = forms.ChoiceField(choices=STOCK_ACTIONS, initial=EventKind.RECEIPT.value)
    sku = forms.CharField(
        label="SKU or barcode",
        max_length=64,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(is_active=True).order_by("code"), to_field_name="code"
    )
    to_location = forms.ModelChoiceField(
        queryset=Location.objects.filter(is_active=True).order_by("code"),
        to_field_name="code",
        required=False,
        label="To location (transfers out)",
    )
    quantity = forms.IntegerField(
        min_value=0,
        max_value=MAX_QUANTITY,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        help_text="For a cycle count: the units counted.",
    )
    reason = forms.CharField(max_length=500, required=False)
    token = forms.CharField(max_length=64, widget=forms.HiddenInput)

    @staticmethod
    def fresh_token() -> str:
        return uuid.uuid4().hex

    def clean_sku(self) -> Sku:
        scanned = self.cleaned_data["sku"].strip()
        found = Sku.objects.filter(Q(code=scanned) | Q(barcode=scanned)).order_by("id").first()
        if found is None:
            raise forms.ValidationError(f"No SKU has the code or barcode {scanned!r}.")
        return found

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind in KINDS_NEEDING_A_REASON and not data.get("reason", "").strip():
            self.add_error("reason", "Say why the stock changes: the audit trail keeps it.")
        if kind == EventKind.TRANSFER_OUT and not data.get("to_location"):
            self.add_error("to_location", "Say where the units go.")
        if kind != EventKind.CYCLE_COUNT and data.get("quantity") == 0:
            self.add_error("quantity", "At least 1 unit.")
        return data
