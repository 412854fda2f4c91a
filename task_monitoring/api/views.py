from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from megahub.api.fields import CharField
from megahub.api.pagination import StandardPagination
from megahub.api.scoping import BrandScopedMixin

from .. import selectors, services
from ..evaluation import evaluate_rule_value
from ..filters import AlertFilter, TaskMetricsFilter
from ..models import Alert, AlertRule, TaskMetrics
from .serializers import (
    AcknowledgeSerializer,
    AlertDeliverySerializer,
    AlertRuleSerializer,
    AlertSerializer,
    CleanupRequestSerializer,
    CleanupResultSerializer,
    MetricsDashboardSerializer,
    RuleTestSerializer,
    SystemDashboardSerializer,
    TaskMetricsSerializer,
    WorkerSerializer,
    WorkersOverviewSerializer,
)


class DashboardQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(selectors.PERIODS), default="24h")
    task_type = CharField(required=False, allow_blank=True, default="", max_length=120)


class MetricsPagination(StandardPagination):
    """The count read from the planner's estimate first, as /tasks/ does (megahub/api/pagination.py): a
    status or threshold filter that the list's index does not hold would otherwise read a row for each of
    the tens of thousands of candidates of its first 1,001 matches."""

    estimate_first = True


class MetricsViewSet(BrandScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Per-task metrics of the brand, newest first: filters, thresholds, `search` over type, description
    and flags (`?search=high_memory`)."""

    serializer_class = TaskMetricsSerializer
    filterset_class = TaskMetricsFilter
    pagination_class = MetricsPagination

    def get_queryset(self):
        if self.request.brand is None:  # schema generation
            return TaskMetrics.objects.none()
        return TaskMetrics.objects.for_brand(self.request.brand).select_related("task").order_by(
            "-finished_at", "-task_id")

    @extend_schema(parameters=[DashboardQuerySerializer], responses={200: MetricsDashboardSerializer}, filters=False)
    @action(detail=False, methods=["get"], filter_backends=[])
    def dashboard(self, request):
        """Counts, success rate, throughput, p50/p95/p99 by type, cost by type and day, top failures, queue
        lengths over `period` (1h, 24h, 7d, 30d), from the rollups."""
        query = DashboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(MetricsDashboardSerializer(selectors.dashboard(brand=request.brand,
                                                                       **query.validated_data)).data)


class WorkerViewSet(BrandScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every worker seen through its heartbeats; `online` is false once it stopped or went silent."""

    serializer_class = WorkerSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.workers_list()

    def list(self, request):
        workers = selectors.with_liveness(self.filter_queryset(self.get_queryset()))
        return Response(WorkerSerializer(workers, many=True).data)

    @extend_schema(responses={200: WorkersOverviewSerializer})
    @action(detail=False, methods=["get"])
    def overview(self, request):
        """Online/offline counts, total and busy slots, queue lengths and their consumers."""
        return Response(WorkersOverviewSerializer(selectors.workers_overview()).data)


class AlertRuleViewSet(BrandScopedMixin, viewsets.ModelViewSet):
    """Alert rules of the brand (operators write; viewers read)."""

    serializer_class = AlertRuleSerializer
    not_found_code = "ALERT_RULE_NOT_FOUND"

    def get_queryset(self):
        if self.request.brand is None:
            return AlertRule.objects.none()
        return AlertRule.objects.filter(brand=self.request.brand)

    def perform_create(self, serializer):
        serializer.instance = services.alert_rule_create(brand=self.request.brand, user=self.request.user,
                                                         data=serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.alert_rule_update(rule=serializer.instance, data=serializer.validated_data)

    @extend_schema(request=None, responses={200: RuleTestSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Evaluate the rule now, without notifying or changing any alert."""
        rule = self.get_object()
        return Response(RuleTestSerializer(evaluate_rule_value(rule)).data)


class AlertViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts of the brand: firing and acknowledged by default, `?state=` one state or `all`."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    not_found_code = "ALERT_NOT_FOUND"

    def get_queryset(self):
        if self.request.brand is None:
            return Alert.objects.none()
        return Alert.objects.for_brand(self.request.brand).select_related("rule", "acknowledged_by")

    def filter_queryset(self, queryset):
        """The list's filters (firing and acknowledged by default) apply to the list only: a resolved alert
        is still found by its id (its detail, deliveries; resolving it again is a 409)."""
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    @extend_schema(request=AcknowledgeSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Stop repeat notifications of a firing alert; it still resolves when the condition clears."""
        body = AcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = services.alert_acknowledge(alert=self.get_object(), user=request.user, note=body.validated_data["note"])
        return Response(AlertSerializer(alert).data)

    @extend_schema(request=None, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Resolve an open alert by hand; it opens again if the condition holds at the next evaluation."""
        alert = services.alert_resolve(alert=self.get_object(), user=request.user)
        return Response(AlertSerializer(alert).data)

    @extend_schema(responses={200: AlertDeliverySerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def deliveries(self, request, pk=None):
        """Every notification attempt of the alert."""
        alert = self.get_object()
        return Response(AlertDeliverySerializer(alert.deliveries.all(), many=True).data)


class MonitoringSystemViewSet(BrandScopedMixin, viewsets.ViewSet):
    """task_monitoring's endpoints under /tasks/system/: the front page and the retention cleanup."""

    action_roles = {"cleanup_executions": "admin"}

    @extend_schema(responses={200: SystemDashboardSerializer})
    @action(detail=False, methods=["get"])
    def dashboard(self, request):
        """Tasks by status now, 24 h success rate and throughput, workers, alerts firing, queue lengths, and
        the sections other apps add (schedules by status)."""
        return Response(SystemDashboardSerializer(selectors.system_dashboard(brand=request.brand)).data)

    @extend_schema(request=CleanupRequestSerializer, responses={200: CleanupResultSerializer})
    @action(detail=False, methods=["post"], url_path="cleanup/executions")
    def cleanup_executions(self, request):
        """Delete the brand's finished tasks older than `older_than_days` (default MONITORING_RETENTION_DAYS)
        with their events and metrics; rollups stay. `dry_run` only counts."""
        body = CleanupRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.executions_cleanup(brand=request.brand, **body.validated_data)
        return Response(CleanupResultSerializer(result).data, status=status.HTTP_200_OK)
