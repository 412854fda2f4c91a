"""Reads of task_core. Every brand-owned read takes the brand: there is no unscoped path for the API."""

import uuid

from django.conf import settings
from django.db import connection
from django.db.models import Count, IntegerField, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from megahub.timestamps import utc_iso

from . import status_counts
from .broker import broker_check, queue_lengths, workers_online
from .choices import BrandRole, TaskOrigin, TaskPriority, TaskStatus
from .enums import choices, registered_enums
from .models import BaseTask, Brand, BrandMembership, TaskEvent
from .querysets import TASK_RELATION_COLUMNS, TASK_RELATIONS
from .registry import all_task_types
from .state_machine import TRANSITIONS


def memberships_for_user(*, user) -> list[dict]:
    if user.is_superuser:
        return [{"id": b.pk, "name": b.name, "slug": b.slug, "role": BrandRole.ADMIN}
                for b in Brand.objects.filter(is_active=True)]
    return [{"id": m.brand.pk, "name": m.brand.name, "slug": m.brand.slug, "role": m.role}
            for m in BrandMembership.objects.for_user(user).select_related("brand").order_by("brand__name")]


def task_queryset(*, brand):
    """The brand's tasks with what their representation shows; the list filters it with
    task_core.filters.TaskFilter (the API's filter backend). Each task's `brand` is `brand` itself (the
    related manager's known object): no join, no Brand instance per row."""
    if brand is None:  # the OpenAPI generation's mock request
        return BaseTask.objects.none()
    return brand.tasks.select_related(*(r for r in TASK_RELATIONS if r != "brand"))


# Columns of a task the list does not show (the traceback is the detail's; the others no representation's).
LIST_DEFERRED = ("error_traceback", "worker_pid", "idempotency_key")


def task_list_queryset(*, brand):
    """task_queryset with only the columns the list shows: a task's but LIST_DEFERRED, and of each related
    row those its field declared (register_task_field's `only`), or all. Fewer columns to compile, fetch,
    decode (JSON) and set on instances per row."""
    queryset = task_queryset(brand=brand)
    return queryset if brand is None else queryset.only(*list_columns())


def list_columns() -> list[str]:
    """The paths `task_list_queryset` loads (for QuerySet.only)."""
    columns = [f.name for f in BaseTask._meta.concrete_fields if f.name not in LIST_DEFERRED]
    columns += TASK_RELATION_COLUMNS
    for relation in TASK_RELATIONS:
        declared = any(c.startswith(f"{relation}__") and "__" not in c[len(relation) + 2:]
                       for c in TASK_RELATION_COLUMNS)
        if relation != "brand" and not declared:
            model = BaseTask
            for part in relation.split("__"):
                model = model._meta.get_field(part).related_model
            columns += [f"{relation}__{f.name}" for f in model._meta.concrete_fields]
    return columns


def task_get(*, brand, lookup: str) -> BaseTask | None:
    """A task of the brand by numeric id or by task_id (UUID, as shown by Celery and Flower)."""
    qs = task_queryset(brand=brand)
    if lookup.isdigit():
        return qs.filter(pk=int(lookup)).first()
    try:
        return qs.filter(task_id=uuid.UUID(lookup)).first()
    except ValueError:
        return None


def task_events(*, task) -> list[TaskEvent]:
    return task.events.select_related("actor")


def task_status_counts(*, brand) -> dict[str, int]:
    """From the counters the transitions maintain (task_core.status_counts), not a scan of the tasks."""
    return status_counts.status_counts(brand=brand)


def broker_queue_lengths() -> dict[str, int]:
    """Messages waiting in each queue the registered task types use (503 when the broker is down)."""
    return queue_lengths(sorted({"default", *(t.queue for t in all_task_types())}))


def queue_stats(*, brand) -> dict:
    """Broker queue lengths (503 when the broker is down) and this brand's task counts."""
    return {"queues": broker_queue_lengths(), "counts_by_status": task_status_counts(brand=brand),
            "workers_online": workers_online()}


def system_health() -> dict:
    """Each component's state; "unavailable" when the database or the broker is down."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = {"status": "up", "vendor": connection.vendor}
    except Exception as exc:  # noqa: BLE001
        database = {"status": "down", "vendor": connection.vendor, "error": str(exc)[:300]}
    broker = broker_check()
    workers = workers_online() if broker["status"] == "up" else []
    components = {"database": database, "broker": broker,
                  "workers": {"status": "up" if workers else "down", "online": workers}}
    if database["status"] == "down" or broker["status"] == "down":
        status = "unavailable"
    else:
        status = "ok" if workers else "degraded"  # work is accepted and kept while no worker runs
    return {"status": status, "components": components}


def system_info() -> dict:
    """What system/status says besides the brand's counts: versions, task types, live workers."""
    return {
        "version": "1.0.0",
        "database": settings.DB_VENDOR,
        "broker": settings.BROKER_KIND,
        "task_types": len(all_task_types()),
        "workers_online": workers_online(),
    }


def system_status(*, brand, info: dict | None = None) -> dict:
    """`info` (system_info(), possibly cached) and the brand's tasks by status, read now from the
    counters: never cached, so a read right after a transition sees it without the transitions paying
    for cache renewals."""
    counts = task_status_counts(brand=brand)
    return {**(info if info is not None else system_info()), "counts_by_status": counts,
            "outbox_pending": counts[TaskStatus.PENDING]}


def enums() -> dict:
    """Core's enumerations, and each app's group (task_core.enums.register_enums)."""
    return {
        "statuses": choices(TaskStatus), "priorities": choices(TaskPriority), "origins": choices(TaskOrigin),
        "roles": choices(BrandRole),
        "transitions": {src: sorted(dst) for src, dst in TRANSITIONS.items()},
        **registered_enums(),
    }


def seo_analysis_report(*, brand, since, until) -> dict:
    """The brand's `seo_keyword_analysis` tasks created in [since, until): counts by status, and the sums
    of keywords processed and insights generated by those that completed (the daily_seo_report)."""
    tasks = BaseTask.objects.for_brand(brand).filter(task_type="seo_keyword_analysis", created_at__gte=since,
                                                     created_at__lt=until)
    counts = dict.fromkeys(TaskStatus.values, 0)
    counts.update(dict(tasks.values_list("status").annotate(n=Count("id"))))

    def result_sum(key):
        return Coalesce(Sum(Cast(KeyTextTransform(key, "result_data"), IntegerField()),
                            filter=Q(status=TaskStatus.COMPLETED)), 0)

    sums = tasks.aggregate(keywords=result_sum("keywords_processed"), insights=result_sum("insights_generated"))
    completed = counts[TaskStatus.COMPLETED]
    return {
        "period": {"since": utc_iso(since), "until": utc_iso(until)},
        "analyses": {"total": sum(counts.values()), **counts},
        "keywords_processed": sums["keywords"],
        "insights_generated": sums["insights"],
        "insights_per_100_keywords": round(100 * sums["insights"] / sums["keywords"], 2) if sums["keywords"] else None,
        "success_rate": round(completed / (completed + counts[TaskStatus.FAILED]), 4)
        if completed + counts[TaskStatus.FAILED] else None,
    }
