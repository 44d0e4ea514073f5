"""The one permission layer: DRF views and console views name the capability each action needs.

An API view reads with `Capability.VIEW` unless it says otherwise; a write needs the capability
the view declares for its action (`action_capabilities`) or for all its writes
(`write_capability`). A write that declares nothing is refused, so a new endpoint fails closed,
and `tests/access/test_url_walk.py` fails the build until it names its permission.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from rest_framework.permissions import SAFE_METHODS, BasePermission

from inventory_sync.lib.htmx import login_required

from .roles import Capability, can

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def api_capability(view, method: str) -> Capability | None:
    """What an API view needs for this method, or None when it declares nothing."""
    action = getattr(view, "action", None)
    declared = getattr(view, "action_capabilities", {}) or {}
    if action in declared:
        return declared[action]
    if method in SAFE_METHODS:
        return getattr(view, "read_capability", Capability.VIEW)
    return getattr(view, "write_capability", None)


class RolePermission(BasePermission):
    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        needed = api_capability(view, request.method)
        if needed is None:
            self.message = "This action names no permission, so it is refused."
            return False
        return can(request.user, needed)


def requires(
    write: Capability | None = None, *, read: Capability = Capability.VIEW
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A console view: login, then `read` for GET and `write` for anything else.

    A view that changes nothing passes no `write`, and any POST to it answers 405.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            needed = read if request.method in READ_METHODS else write
            if needed is None:
                return HttpResponseNotAllowed(READ_METHODS)
            if not can(request.user, needed):
                raise PermissionDenied("Your role does not allow this action.")
            return view(request, *args, **kwargs)

        wrapper.capabilities = {"read": read, "write": write}
        return wrapper

    return decorate
