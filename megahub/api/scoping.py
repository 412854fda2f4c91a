"""Brand scoping: every /tasks/ call names its brand in `X-Brand-ID` and acts as the caller's role there.

`BrandAccess` runs after authentication: it resolves `request.brand` and `request.brand_role`, then
checks the role the view asks for. Views then filter every queryset by `request.brand`, so another
brand's object is simply not found (404), never forbidden.
"""

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from task_core.access import brand_role_for_user
from task_core.choices import ROLE_RANK, BrandRole

from .authentication import BRAND_HEADER, MAX_BRAND_ID
from .exceptions import BrandRequired
from .filters import refuse_empty_query_params


def resolve_brand(request):
    """Return (brand, role) for the request's user and X-Brand-ID header, or raise. The authentication read
    them with the user (`brand_access`, megahub/api/authentication.py) unless the user came another way."""
    raw = request.META.get(BRAND_HEADER, "").strip()
    if not raw:
        raise BrandRequired()
    if not (raw.isascii() and raw.isdigit()):  # '²'.isdigit() is True, int('²') fails
        raise BrandRequired("X-Brand-ID must be a brand id (an integer).", error_code="BRAND_INVALID")
    brand_id = int(raw)
    access = getattr(request, "brand_access", None)
    if access is not None and access[0] is request.user and access[1] == brand_id:
        brand, role = access[2], access[3]
    else:
        # An id beyond a bigint names no brand (and SQLite cannot even bind it).
        brand, role = brand_role_for_user(user=request.user, brand_id=brand_id) if brand_id <= MAX_BRAND_ID \
            else (None, None)
    if brand is None:
        raise PermissionDenied(f"You have no access to brand {raw}.")
    return brand, role


class BrandAccess(permissions.BasePermission):
    """Resolves the brand and checks the role the view requires for this action.

    A view declares `action_roles = {"create": "operator", ...}`; unlisted actions need "viewer" when
    safe (GET/HEAD/OPTIONS) and "operator" otherwise.
    """

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if not hasattr(request, "brand"):
            request.brand, request.brand_role = resolve_brand(request)
        required = required_role(request, view)
        if ROLE_RANK[request.brand_role] < ROLE_RANK[required]:
            raise PermissionDenied(
                f"This action needs the {required} role in brand {request.brand.pk}; you are {request.brand_role}."
            )
        return True


def required_role(request, view) -> str:
    roles = getattr(view, "action_roles", {})
    action = getattr(view, "action", None) or request.method.lower()
    if action in roles:
        return roles[action]
    return BrandRole.VIEWER if request.method in permissions.SAFE_METHODS else BrandRole.OPERATOR


class BrandScopedMixin:
    """Base for every brand-scoped API view."""

    permission_classes = [permissions.IsAuthenticated, BrandAccess]

    def check_permissions(self, request):
        # A method the endpoint does not have is a 405 for any authenticated caller, before the brand
        # and role checks (an unauthenticated one still gets its 401 from the permissions).
        if request.user and request.user.is_authenticated and getattr(self, request.method.lower(), None) is None:
            self.http_method_not_allowed(request)
        super().check_permissions(request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        refuse_empty_query_params(request)  # once the caller is known to be allowed here

    def initialize_request(self, request, *args, **kwargs):
        request = super().initialize_request(request, *args, **kwargs)
        if getattr(self, "swagger_fake_view", False):
            # OpenAPI generation calls get_queryset() on a mock request that never passed BrandAccess:
            # an empty brand still yields the right model (and the path parameter types) for the schema.
            request.brand, request.brand_role = None, None
        return request
