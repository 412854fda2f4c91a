"""The scheduling part of /tasks/system/: orphans and their cleanup, leftovers of earlier formats."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from megahub.api.scoping import BrandScopedMixin

from ...selectors.orphans import orphans_find
from ...services.legacy import legacy_cleanup
from ...services.orphans import orphans_cleanup
from ..serializers import (
    LegacyCleanupInputSerializer,
    LegacyCleanupSerializer,
    OrphansCleanupSerializer,
    OrphansSerializer,
)


class SchedulingSystemViewSet(BrandScopedMixin, viewsets.ViewSet):
    """Maintenance of the scheduler under /tasks/system/."""

    action_roles = {"cleanup_orphans": "admin", "cleanup_legacy": "admin"}

    @extend_schema(responses={200: OrphansSerializer})
    @action(detail=False, methods=["get"])
    def orphans(self, request):
        """Beat entries whose schedule or template is gone; schedules whose template is gone."""
        return Response(OrphansSerializer(orphans_find(brand=request.brand)).data)

    @extend_schema(request=None, responses={200: OrphansCleanupSerializer})
    @action(detail=False, methods=["post"], url_path="cleanup/orphans")
    def cleanup_orphans(self, request):
        """Remove the orphans listed by orphans/ and report what was removed (admin)."""
        return Response(OrphansCleanupSerializer(orphans_cleanup(brand=request.brand)).data)

    @extend_schema(request=LegacyCleanupInputSerializer, responses={200: LegacyCleanupSerializer})
    @action(detail=False, methods=["post"], url_path="cleanup/legacy")
    def cleanup_legacy(self, request):
        """Leftovers of earlier formats (admin): the brand's Beat rows no schedule claims or in an old
        format, Celery result rows past their expiry. `dry_run` (default true) only reports them."""
        data = LegacyCleanupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = legacy_cleanup(brand=request.brand, dry_run=data.validated_data["dry_run"])
        return Response(LegacyCleanupSerializer(report).data)
