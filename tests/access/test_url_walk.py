"""Every URL of the project names the permission its writes need (I12), so a new endpoint
cannot slip in unguarded: this walks the URL patterns, not a list someone must remember."""

from __future__ import annotations

from django.contrib import admin
from rest_framework.views import APIView

from access.admin import AuditedAdmin
from access.permissions import RolePermission, api_capability
from access.roles import Capability
from inventory_sync.lib.admin import ReadOnlyAdmin
from tests.access.urlwalk import WRITE_METHODS, project_views


def api_writes(callback):
    cls = callback.cls
    actions = getattr(callback, "actions", None)
    if actions:  # a ViewSet route: method -> action
        return [
            (method, action, cls) for method, action in actions.items() if method in WRITE_METHODS
        ]
    return [(method, None, cls) for method in WRITE_METHODS if hasattr(cls, method)]


def test_the_walk_finds_the_api_and_the_console():
    routes = [route for route, _ in project_views()]
    assert any(route.startswith("api/v1/") for route in routes)
    assert any(route.startswith("reconciliation/") for route in routes)
    assert len(routes) > 40


def test_every_api_view_uses_the_role_permission():
    unguarded = [
        route
        for route, view in project_views()
        if hasattr(view, "cls")
        and issubclass(view.cls, APIView)
        and not any(issubclass(p, RolePermission) for p in view.cls.permission_classes)
    ]
    assert unguarded == []


def test_every_api_write_names_its_capability():
    undeclared = []
    for route, view in project_views():
        if not hasattr(view, "cls"):
            continue
        for method, action, cls in api_writes(view):
            probe = object.__new__(cls)
            probe.action = action
            needed = api_capability(probe, method.upper())
            if needed not in set(Capability) or needed is Capability.VIEW:
                undeclared.append(f"{method.upper()} {route} ({action})")
    assert undeclared == [], "API writes that name no capability: " + ", ".join(undeclared)


def test_every_console_view_names_its_capabilities():
    undeclared = [
        route
        for route, view in project_views()
        if not hasattr(view, "cls") and not isinstance(getattr(view, "capabilities", None), dict)
    ]
    assert undeclared == [], "console views without requires(): " + ", ".join(undeclared)


def test_every_model_admin_signs_its_changes_or_changes_nothing():
    unsigned = [
        f"{model._meta.label}: {type(model_admin).__name__}"
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, AuditedAdmin | ReadOnlyAdmin)
    ]
    assert unsigned == []
