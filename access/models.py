"""Who may do what (three roles over three capabilities), and who did what (the audit trail).

The app sits below the ledger: every other app's edges check a capability and sign their
changes here, and it imports nothing of ours but `inventory_sync.lib`.
"""

from __future__ import annotations

from django.db import models


class Capability(models.Model):
    """Holds no rows: it only carries the three permissions the roles are made of.

    A permission needs a model to hang on; an unmanaged one keeps the table out of the
    database. The admin keeps Django's per-model permissions besides these.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "Can read every page and API list"),
            ("operate", "Can run the day: stock, halts, drift, returns, incidents, orders"),
            ("administer", "Can change channels, credentials, rules, reservations and users"),
        ]

    def __str__(self) -> str:
        return "capability"


class AuditEntry(models.Model):
    """One signed action: who, when, through which door, what (before and after) and why.

    Append-only like the ledger: the database refuses UPDATE, DELETE and TRUNCATE on this
    table. The actor is kept by name and id, not by foreign key, so removing a user leaves
    their history readable and the row untouched.
    """

    class Via(models.TextChoices):
        API = "api", "API"
        CONSOLE = "console", "Console"
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Command"
        SYSTEM = "system", "System"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, help_text="Username, or 'system'.")
    actor_id = models.BigIntegerField(null=True, blank=True)
    via = models.CharField(max_length=10, choices=Via.choices)
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. halt.release")
    target_type = models.CharField(max_length=100, help_text="app_label.model")
    target_id = models.CharField(max_length=100, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(
                fields=["target_type", "target_id", "-at"], name="access_audi_target__a68ba6_idx"
            )
        ]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target_repr}"
