"""Form fields lanes use for their credentials in the channel admin."""

from __future__ import annotations

from django import forms


def secret_field(help_text: str) -> forms.CharField:
    """A write-only credential: typed in, sealed, never rendered back; empty keeps it."""
    return forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=f"{help_text} Leave empty to keep the current one.",
    )
