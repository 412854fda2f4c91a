"""The scheduling part of /tasks/system/: orphans and their cleanup."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from megahub.api.scoping import BrandScopedMixin

from ...selectors.orphans import orphans_find
from ...services.orphans import orphans_cleanup
from ..serializers import OrphansCleanupSerializer, OrphansSerializer


class SchedulingSystemViewSet(BrandScopedMixin, viewsets.ViewSet):
    """Maintenance of the scheduler under /tasks/system/."""

    action_roles = {"cleanup_orphans": "admin"}

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
