from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from megahub.api.fields import BooleanField, CharField, IntegerField

from .. import selectors


class LoginView(TokenObtainPairView):
    """Exchange username and password for an access and a refresh token. Throttled per client."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"


class RefreshView(TokenRefreshView):
    """Exchange a refresh token for a new pair; the old refresh token is blacklisted (rotation)."""


class MembershipSerializer(serializers.Serializer):
    id = IntegerField()
    name = CharField()
    slug = CharField()
    role = CharField()


class MeSerializer(serializers.Serializer):
    id = IntegerField()
    username = CharField()
    email = CharField()
    is_superuser = BooleanField()
    brands = MembershipSerializer(many=True)


class MeView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        """The current user and the brands they belong to, with their role in each."""
        user = request.user
        return Response(MeSerializer({
            "id": user.pk, "username": user.get_username(), "email": user.email,
            "is_superuser": user.is_superuser, "brands": selectors.memberships_for_user(user=user),
        }).data)
