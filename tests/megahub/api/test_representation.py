"""The compiled representation (megahub/api/representation.py) answers what DRF's own would, field by field."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework import serializers

from megahub.api.representation import CompiledRepresentation, compile_representation
from task_core import services
from task_core.api.serializers import TaskDetailSerializer, TaskEventSerializer, TaskSerializer
from task_core.models import BaseTask
from task_core.state_machine import transition
from task_monitoring.api.serializers import TaskMetricsSummarySerializer
from task_monitoring.models import TaskMetrics


def drf(serializer, instance):
    """DRF's own Serializer.to_representation (the compiled one bypassed at this level)."""
    return serializers.Serializer.to_representation(serializer, instance)


class Ref(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class Everything(CompiledRepresentation, serializers.Serializer):
    """One field of each kind the compiler handles, and of kinds it hands to DRF."""

    number = serializers.IntegerField()
    text = serializers.CharField()
    choice = serializers.ChoiceField(choices=[("a", "A"), ("b", "B")])
    uid = serializers.UUIDField()
    blob = serializers.JSONField()
    at = serializers.DateTimeField()
    amount = serializers.DecimalField(max_digits=8, decimal_places=3)
    flag = serializers.BooleanField()
    ref = Ref(allow_null=True)
    dotted = serializers.CharField(source="ref.name", default="none")
    method = serializers.SerializerMethodField()
    callable_attr = serializers.CharField()
    optional = serializers.CharField(required=False)
    defaulted = serializers.CharField(default="fallback")

    def get_method(self, obj):
        return f"m{obj['number'] if isinstance(obj, dict) else obj.number}"


def test_compiled_equals_drf_for_every_kind_of_field():
    import uuid

    full = SimpleNamespace(number=3, text="x", choice="b", uid=uuid.uuid4(), blob={"k": [1, 2]},
                           at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.get_fixed_timezone(60)),
                           amount=Decimal("1.23456"), flag=True, ref=SimpleNamespace(id=7, name="r"),
                           callable_attr=lambda: "called", optional="here", defaulted="set")
    sparse = SimpleNamespace(number=None, text="", choice="", uid=None, blob=None, at=None, amount=None,
                             flag=False, ref=None, callable_attr=lambda: "c")  # no optional, no defaulted
    as_dict = {"number": 1, "text": "d", "choice": "a", "uid": None, "blob": [], "at": "2026-01-01", "amount": 2,
               "flag": False, "ref": {"id": 1, "name": "n"}, "callable_attr": "s"}
    serializer = Everything()
    for instance in (full, sparse, as_dict):
        assert serializer.to_representation(instance) == drf(serializer, instance)
    assert list(serializer.to_representation(full)) == list(drf(serializer, full))  # same order
    assert serializer.to_representation(full)["at"] == "2026-01-02T02:04:05.000006Z"
    assert "optional" not in serializer.to_representation(sparse)  # SkipField, as DRF
    assert serializer.to_representation(sparse)["defaulted"] == "fallback"


@pytest.mark.django_db
def test_compiled_task_representation_equals_drf(brand, operator):
    paths = {"pending": (), "running": ("queued", "running"), "completed": ("queued", "running", "completed"),
             "failed": ("queued", "running", "failed")}
    tasks = []
    for status, steps in paths.items():
        task, _ = services.task_create(brand=brand, created_by=operator if status != "failed" else None,
                                       task_type="demo.echo", context_data={"message": status},
                                       description=f"a {status} task")
        for step in steps:
            assert transition(task, step)
        tasks.append(task)
    failed = tasks[-1]
    retry = services.task_retry(task=BaseTask.objects.get(pk=failed.pk), actor=operator)
    TaskMetrics.objects.filter(task=tasks[2]).delete()
    TaskMetrics.objects.create(task=tasks[2], brand=brand, task_type="demo.echo", status="completed",
                               finished_at=timezone.now(), execution_time_ms=1200, queue_wait_ms=30,
                               cpu_time_ms=900, memory_usage_mb=42.5, cost_usd=Decimal("0.000123"))
    rows = list(BaseTask.objects.filter(pk__in=[*(t.pk for t in tasks), retry.pk]).with_relations())
    assert any(t.retry_of_id for t in rows)
    for cls in (TaskSerializer, TaskDetailSerializer):
        serializer = cls()
        for task in rows:
            assert serializer.to_representation(task) == drf(serializer, task), (cls.__name__, task.status)
    many = TaskSerializer(rows, many=True).data
    assert [dict(r) for r in many] == [drf(TaskSerializer(), t) for t in rows]
    measured = next(r for r in many if r["id"] == tasks[2].pk)["metrics"]
    assert measured["execution_time_ms"] == 1200 and measured["cost_usd"] == "0.000123"
    summary = TaskMetricsSummarySerializer()
    metrics = TaskMetrics.objects.get(task=tasks[2])
    assert summary.to_representation(metrics) == drf(summary, metrics)
    events = TaskEventSerializer()
    for event in tasks[2].events.select_related("actor"):
        assert events.to_representation(event) == drf(events, event)


def test_a_naive_datetime_goes_through_drf():
    class One(serializers.Serializer):
        at = serializers.DateTimeField()

    naive = SimpleNamespace(at=datetime(2026, 1, 2, 3, 4, 5) + timedelta(microseconds=1))
    assert compile_representation(One())(naive) == drf(One(), naive)
    aware = SimpleNamespace(at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert compile_representation(One())(aware) == {"at": "2026-01-02T03:04:05.000000Z"}


@pytest.mark.django_db
def test_compiled_job_metrics_and_alert_lists_equal_drf(brand, operator):
    """The other apps' largest lists: persistent jobs (nested task, method field, a checkpoint or none),
    metrics rows (dotted sources, a list field) and alerts (a foreign key, an absent user)."""
    from task_monitoring.api.serializers import AlertSerializer, TaskMetricsSerializer
    from task_monitoring.models import Alert, AlertRule
    from task_persistence import services as persistence
    from task_persistence.api.serializers import PersistentJobSerializer
    from task_persistence.models import PersistentJob

    tasks = [services.task_create(brand=brand, created_by=operator, task_type="demo.iterate",
                                  context_data={"items": 3}, queue="q-nobody")[0] for _ in range(2)]
    assert transition(tasks[0], "running", worker="w1@host")
    persistence.job_claim(task=tasks[0], run_id="r" * 32, worker="w1@host")
    persistence.checkpoint_write(task=tasks[0], run_id="r" * 32, step=1, state={"cursor": 0})
    assert transition(tasks[0], "failed", error_message="boom")
    jobs = list(PersistentJob.objects.filter(task__in=tasks).select_related("task", "last_checkpoint"))
    assert {j.last_checkpoint_id is None for j in jobs} == {True, False}
    metrics = TaskMetrics.objects.create(task=tasks[1], brand=brand, task_type="demo.iterate", status="completed",
                                         finished_at=timezone.now(), execution_time_ms=5, flags="slow,high_memory")
    rule = AlertRule.objects.create(brand=brand, name="r", metric="task_failed", threshold=0)
    alerts = [Alert.objects.create(rule=rule, brand=brand, severity="info", value=1, threshold=0, scope=s,
                                   acknowledged_by=user, acknowledged_at=timezone.now() if user else None)
              for s, user in (("a", operator), ("b", None))]
    for cls, rows in ((PersistentJobSerializer, jobs),
                      (TaskMetricsSerializer, TaskMetrics.objects.filter(pk=metrics.pk).select_related("task")),
                      (AlertSerializer, Alert.objects.filter(pk__in=[a.pk for a in alerts])
                       .select_related("rule", "acknowledged_by"))):
        rows = list(rows)
        assert [dict(r) for r in cls(rows, many=True).data] == [drf(cls(), row) for row in rows], cls.__name__
    assert {r["resumable"] for r in PersistentJobSerializer(jobs, many=True).data} == {True, False}
