"""The API's authentication: simplejwt's JWT, the user and their brand read in one statement.

Every /tasks/ call is authenticated (the user behind the JWT) and then scoped to the brand of its
`X-Brand-ID` header (megahub/api/scoping.py). Read one after the other that is two statements and two ORM
compilations per request, most of what a refused request costs. `BrandJWTAuthentication` reads the user
and, when the header names a brand id, the user's role in that brand in one statement
(`task_core.access.user_with_brand_role`); `resolve_brand` then takes the role from the request
instead of reading it again. What the user may do is decided exactly as before: the same checks of the
token (simplejwt's) and of the user (not found, inactive, password changed), the same brand rules.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from task_core.access import user_with_brand_role

BRAND_HEADER = "HTTP_X_BRAND_ID"
MAX_BRAND_ID = 2**63 - 1  # a bigint: a larger id names no brand (and SQLite cannot even bind it)


def header_brand_id(request) -> int | None:
    """The brand id `X-Brand-ID` names, or None when it names none (missing, not an integer, too large)."""
    raw = request.META.get(BRAND_HEADER, "").strip()
    if not (raw and raw.isascii() and raw.isdigit()):  # '²'.isdigit() is True, int('²') fails
        return None
    brand_id = int(raw)
    return brand_id if brand_id <= MAX_BRAND_ID else None


class BrandJWTAuthentication(JWTAuthentication):
    """simplejwt's JWTAuthentication, reading the user's role in the `X-Brand-ID` brand with the user
    (see the module). The resolved brand is left on the request as `brand_access` =
    (user, brand id, brand or None, role or None)."""

    def authenticate(self, request):
        self.brand_id = header_brand_id(request)
        self.brand_access = None
        result = super().authenticate(request)
        if result is not None and self.brand_access is not None:
            request.brand_access = (result[0], *self.brand_access)
        return result

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as e:
            raise InvalidToken(_("Token contained no recognizable user identification")) from e
        user, brand, role = user_with_brand_role(user_id=user_id, brand_id=self.brand_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
                api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        if self.brand_id is not None:
            self.brand_access = (self.brand_id, brand, role)
        return user
