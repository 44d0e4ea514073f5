"""Console forms of reconciliation: each parses one action's input; the services decide."""

from __future__ import annotations

from django import forms

from channels.models import Channel
from ledger.models import Sku

from . import resolve
from .models import Drift

# What a person can do with a drift, for the console and the API alike.
DRIFT_ACTIONS = {
    "resync": resolve.resync,
    "halt": resolve.halt_listing,
    "adopt": resolve.adopt,
    "dismiss": resolve.dismiss,
}
DRIFT_ACTION_CHOICES = [(name, name.title()) for name in DRIFT_ACTIONS]
# Resync needs no reason (it sends what we already believe); every other action changes what
# the channel or the ledger shows, so a person says why.
REASON_OPTIONAL = frozenset({"resync"})


def missing_reason(action: str) -> str:
    return f"Say why: {action} needs a reason."


class ReasonField(forms.CharField):
    def __init__(self, *, required: bool = True, **kwargs) -> None:
        super().__init__(max_length=500, required=required, strip=True, **kwargs)


class DriftActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("resync", "Resync"), ("halt", "Halt"), ("adopt", "Adopt"), ("dismiss", "Dismiss")]
    )
    reason = ReasonField(required=False)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("action") not in REASON_OPTIONAL and not data.get("reason"):
            self.add_error(
                "reason", f"Say why: {data.get('action', 'this action')} needs a reason."
            )
        return data


class DriftFilterForm(forms.Form):
    """The drift list's query parameters; an invalid one is ignored rather than refused, so a
    stale link still opens the page."""

    run = forms.IntegerField(required=False, min_value=1)
    channel = forms.CharField(required=False, max_length=64)
    sku = forms.CharField(required=False, max_length=100)
    cause = forms.ChoiceField(required=False, choices=[("", "any"), *Drift.Cause.choices])
    resolution = forms.ChoiceField(
        required=False,
        choices=[("", "any"), ("unresolved", "Open or halted"), *Drift.Resolution.choices],
    )
    listing = forms.IntegerField(required=False, min_value=1)


class ReconcileNowForm(forms.Form):
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.filter(mode=Channel.Mode.LIVE).order_by("code"),
        to_field_name="code",
        required=False,
        empty_label="every live channel",
    )


class HaltOpenForm(forms.Form):
    sku = forms.CharField(max_length=100, label="SKU code")
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.order_by("code"),
        to_field_name="code",
        required=False,
        empty_label="every channel",
    )
    reason = ReasonField(error_messages={"required": "Say why: a halt needs a reason."})

    def clean_sku(self) -> Sku:
        code = self.cleaned_data["sku"].strip()
        sku = Sku.objects.filter(code=code).first()
        if sku is None:
            raise forms.ValidationError(f"No SKU has the code {code!r}.")
        return sku


class ReasonForm(forms.Form):
    """Release a halt, clear a dead-man episode: a person's decision, with a reason."""

    reason = ReasonField()


class ReviewForm(forms.Form):
    note = ReasonField(label="What the review found")
