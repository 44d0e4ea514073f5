"""The admin keeps Django's model permissions for the admin role, and signs what others' admin
pages change: tokens without their key, password changes without their values, actions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.authtoken.models import Token

from access.models import AuditEntry
from access.roles import Role


@pytest.fixture
def admin_role_client(db, client, django_user_model):
    person = django_user_model.objects.create_user("ada", password="pw-ada-12345", is_staff=True)
    person.groups.add(Group.objects.get(name=Role.ADMIN))
    client.force_login(person)
    return client


def test_the_admin_role_holds_the_model_permissions_of_every_app_after_one_migrate(db):
    held = set(
        Group.objects.get(name=Role.ADMIN).permissions.values_list(
            "content_type__app_label", flat=True
        )
    )
    assert {"ledger", "allocation", "channels", "reconciliation", "auth", "access"} <= held
    assert "sessions" not in held
    assert Permission.objects.filter(group__name=Role.VIEWER).count() == 1


def test_an_admin_role_person_manages_channels_and_rules_in_the_admin(admin_role_client):
    for page in ("/admin/channels/channel/", "/admin/allocation/allocationrule/add/"):
        assert admin_role_client.get(page).status_code == 200, page


def test_a_token_made_in_the_admin_never_shows_its_key_in_the_trail(
    admin_role_client, django_user_model
):
    bob = django_user_model.objects.create_user("bob")
    answer = admin_role_client.post("/admin/authtoken/tokenproxy/add/", {"user": bob.pk})
    assert answer.status_code == 302
    key = Token.objects.get(user=bob).key
    entry = AuditEntry.objects.get(action__endswith=".add", target_type__startswith="authtoken")
    assert entry.target_repr == "API token of bob"
    assert key not in str(entry.after)
    assert key not in entry.target_repr


def test_a_password_change_in_the_admin_is_signed_without_its_values(
    admin_role_client, django_user_model
):
    bob = django_user_model.objects.create_user("bob", password="old-pw-12345")
    answer = admin_role_client.post(
        f"/admin/auth/user/{bob.pk}/password/",
        {"password1": "New-pw-98765!", "password2": "New-pw-98765!"},
    )
    assert answer.status_code == 302
    entry = AuditEntry.objects.get(action="user.password_change")
    assert (entry.actor, entry.target_id, entry.via) == ("ada", str(bob.pk), "admin")
    assert "New-pw" not in str(entry.after)


def test_a_beat_schedule_action_is_signed_with_the_tasks_it_touched(admin_role_client):
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    task = PeriodicTask.objects.create(name="sweep", task="x.sweep", interval=every)
    answer = admin_role_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "disable_tasks", "_selected_action": [task.pk]},
    )
    assert answer.status_code == 302
    task.refresh_from_db()
    assert task.enabled is False
    entry = AuditEntry.objects.get(action="periodictask.disable_tasks")
    assert entry.after == {"ids": [str(task.pk)]}
