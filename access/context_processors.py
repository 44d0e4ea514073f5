"""What the signed-in person's role allows, for the templates: a page hides the actions the
role cannot take (the views refuse them anyway), and the 403 page names the role needed."""

from __future__ import annotations

from functools import cached_property

from django.http import HttpRequest

from .permissions import READ_METHODS
from .roles import ROLE_CAPABILITIES, Capability, Role, can, roles_of


def role_needed(capability: Capability | None) -> Role | None:
    """The least role that holds the capability."""
    for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN):
        if capability in ROLE_CAPABILITIES[role]:
            return role
    return None


class RolePermissions:
    """`perms_of_role.view`, `.operate`, `.administer`: asked only when a template reads them."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request
        self._user = getattr(request, "user", None)

    @cached_property
    def view(self) -> bool:
        return can(self._user, Capability.VIEW)

    @cached_property
    def operate(self) -> bool:
        return can(self._user, Capability.OPERATE)

    @cached_property
    def administer(self) -> bool:
        return can(self._user, Capability.ADMINISTER)

    @cached_property
    def roles(self) -> list[str]:
        return roles_of(self._user) if self._user is not None else []

    @cached_property
    def needed(self) -> Role | None:
        """The role the requested console action needs (its view's `requires()`), for a 403."""
        match = getattr(self._request, "resolver_match", None)
        capabilities = getattr(getattr(match, "func", None), "capabilities", None)
        if not isinstance(capabilities, dict):
            return None
        safe = self._request.method in READ_METHODS
        return role_needed(capabilities["read" if safe else "write"])


def role_permissions(request: HttpRequest) -> dict:
    return {"perms_of_role": RolePermissions(request)}
