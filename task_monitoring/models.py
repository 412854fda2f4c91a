"""Monitoring data: per-task metrics, rollups per time bucket, workers, alert rules and alerts."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from task_core.choices import TaskStatus
from task_core.models import BaseTask, Brand

from .choices import AlertState
from .querysets import AlertQuerySet, TaskMetricsQuerySet, WorkerQuerySet

# Upper bounds (ms) of the fixed histogram buckets of execution time and queue wait; the last one is +Inf.
# Also the `le` labels of the Prometheus histograms.
HISTOGRAM_BOUNDS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)
HISTOGRAM_BUCKETS = len(HISTOGRAM_BOUNDS_MS) + 1


class TaskMetrics(models.Model):
    """What the last run of a task cost: captured by the worker (or, for a run killed by the hard time
    limit or the reaper, its wall time from the task's timestamps)."""

    task = models.OneToOneField(BaseTask, on_delete=models.CASCADE, primary_key=True, related_name="metrics",
                                verbose_name="task", help_text="The task measured.")
    # Copies of the task's columns, written with the metrics, so the metrics list filters and sorts on
    # its own indexes at millions of rows.
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name="brand", help_text="The task's brand.")
    task_type = models.CharField("task type", max_length=120, help_text="The task's type.")
    status = models.CharField("status", max_length=16, choices=TaskStatus.choices,
                              help_text="The outcome of the measured run.")
    finished_at = models.DateTimeField("finished at", help_text="When the measured run ended.")
    execution_time_ms = models.PositiveIntegerField("execution time (ms)", null=True, blank=True,
                                                    help_text="Start to finish of the run (wall time).")
    queue_wait_ms = models.PositiveIntegerField("queue wait (ms)", null=True, blank=True,
                                                help_text="From queued to started.")
    cpu_time_ms = models.PositiveIntegerField("CPU time (ms)", null=True, blank=True,
                                              help_text="User + system CPU of the pool process during the run.")
    memory_usage_mb = models.FloatField("peak memory (MB)", null=True, blank=True,
                                        help_text="Peak resident memory during the run.")
    memory_is_run_peak = models.BooleanField(
        "memory is this run's peak", default=True,
        help_text="False: the platform could not reset the peak, the figure is the process's high-water mark.")
    cost_usd = models.DecimalField("cost (USD)", max_digits=14, decimal_places=6, null=True, blank=True,
                                   help_text="CPU seconds x CPU rate + wall seconds x wall rate (type + queue).")
    custom = models.JSONField("custom metrics", default=dict, blank=True,
                              help_text="Numbers the task reported with ctx.metric(name, value).")
    flags = models.CharField("flags", max_length=120, blank=True, default="",
                             help_text="Space-separated: high_memory, slow, expensive (thresholds at capture).")
    runs = models.PositiveIntegerField("runs measured", default=1, help_text="Runs of this task (retries add).")
    source = models.CharField("source", max_length=16, default="worker",
                              help_text="worker: measured by the pool process; timestamps: wall time only.")

    objects = TaskMetricsQuerySet.as_manager()

    class Meta:
        verbose_name = "task metrics"
        verbose_name_plural = "task metrics"
        indexes = [
            models.Index(fields=["brand", "-finished_at"], name="metrics_brand_finished"),
            models.Index(fields=["brand", "-execution_time_ms"], name="metrics_brand_exec"),
            # flagged rows only (a few percent): `flag` and the flag part of `search` (filters.flagged)
            models.Index(fields=["brand", "-finished_at"], name="metrics_brand_flagged", condition=~Q(flags="")),
            # the thresholds `memory_usage_mb__gte` and `cost_usd__gte`: a rare value is a range here, not a walk
            # of the brand's rows (the row is written once per run: two more entries)
            models.Index(fields=["brand", "memory_usage_mb"], name="metrics_brand_memory"),
            models.Index(fields=["brand", "cost_usd"], name="metrics_brand_cost"),
        ]

    def __str__(self):
        return f"metrics of task {self.task_id}"

    @property
    def flag_list(self) -> list[str]:
        return self.flags.split()


class Granularity(models.TextChoices):
    MINUTE = "m", "Minute"
    HOUR = "h", "Hour"
    DAY = "d", "Day"


class MetricsRollup(models.Model):
    """Outcome counts and sums per brand, task type, queue and time bucket, added to as each run ends.

    Dashboards, alert rules and Prometheus read these, never a scan of the tasks. Histogram bucket i
    counts runs with a duration <= HISTOGRAM_BOUNDS_MS[i] (and above the previous bound).
    """

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False,
                              verbose_name="brand", help_text="Brand of the tasks counted.")
    task_type = models.CharField("task type", max_length=120, help_text="Type of the tasks counted.")
    queue = models.CharField("queue", max_length=64, help_text="Queue of the tasks counted.")
    granularity = models.CharField("granularity", max_length=1, choices=Granularity.choices,
                                   help_text="Bucket width: minute, hour or day.")
    bucket = models.DateTimeField("bucket start", help_text="Start of the bucket (UTC).")
    completed = models.PositiveIntegerField("completed", default=0)
    failed = models.PositiveIntegerField("failed", default=0)
    cancelled = models.PositiveIntegerField("cancelled", default=0)
    retried = models.PositiveIntegerField("retried", default=0, help_text="Runs that failed and were retried.")
    measured = models.PositiveIntegerField("measured runs", default=0, help_text="Runs with an execution time.")
    execution_ms_sum = models.BigIntegerField("execution ms sum", default=0)
    execution_ms_max = models.BigIntegerField("execution ms max", default=0)
    waited = models.PositiveIntegerField("runs with a queue wait", default=0)
    queue_wait_ms_sum = models.BigIntegerField("queue wait ms sum", default=0)
    cpu_ms_sum = models.BigIntegerField("CPU ms sum", default=0)
    memory_mb_sum = models.FloatField("memory MB sum", default=0)
    memory_mb_max = models.FloatField("memory MB max", default=0)
    cost_usd_sum = models.DecimalField("cost USD sum", max_digits=18, decimal_places=6, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "granularity", "bucket", "task_type", "queue"],
                                               name="rollup_unique_bucket")]

    def __str__(self):
        return f"{self.brand_id} {self.task_type} {self.granularity} {self.bucket:%Y-%m-%d %H:%M}"

    @property
    def duration_histogram(self) -> list[int]:
        return [getattr(self, f"d{i}") for i in range(HISTOGRAM_BUCKETS)]

    @property
    def wait_histogram(self) -> list[int]:
        return [getattr(self, f"w{i}") for i in range(HISTOGRAM_BUCKETS)]


for _i in range(HISTOGRAM_BUCKETS):
    _bound = f"<= {HISTOGRAM_BOUNDS_MS[_i]} ms" if _i < len(HISTOGRAM_BOUNDS_MS) else "above the last bound"
    MetricsRollup.add_to_class(f"d{_i}", models.PositiveIntegerField(f"duration {_bound}", default=0))
    MetricsRollup.add_to_class(f"w{_i}", models.PositiveIntegerField(f"queue wait {_bound}", default=0))


class Dashboard(MetricsRollup):
    """The admin's dashboard page (charts drawn from the rollups): a proxy, so the admin index lists it."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"
        default_permissions = ()


class WorkerStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class Worker(models.Model):
    """A Celery worker seen through its heartbeats (written by the worker's main process)."""

    hostname = models.CharField("hostname", max_length=255, unique=True, help_text="Celery node name.")
    pid = models.PositiveIntegerField("pid", null=True, blank=True, help_text="Main process id.")
    queues = models.JSONField("queues", default=list, blank=True, help_text="Queues it consumes.")
    concurrency = models.PositiveIntegerField("concurrency", default=0, help_text="Pool slots.")
    active = models.PositiveIntegerField("active tasks", default=0, help_text="Tasks running at the last beat.")
    processed = models.PositiveIntegerField("processed", default=0, help_text="Tasks received since start.")
    failed = models.PositiveIntegerField("failed", default=0, help_text="Runs that ended failed since start.")
    status = models.CharField("status", max_length=16, choices=WorkerStatus.choices, default=WorkerStatus.ONLINE,
                              help_text="offline: stopped, or no heartbeat for MONITORING_WORKER_OFFLINE_SECONDS.")
    started_at = models.DateTimeField("started at", null=True, blank=True)
    last_heartbeat = models.DateTimeField("last heartbeat", null=True, blank=True)
    software = models.CharField("software", max_length=64, blank=True, default="")

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return self.hostname


class AlertMetric(models.TextChoices):
    FAILURE_RATE = "failure_rate", "Failure rate (0-1)"
    DURATION_P95_MS = "duration_p95_ms", "Execution time p95 (ms)"
    QUEUE_WAIT_P95_MS = "queue_wait_p95_ms", "Queue wait p95 (ms)"
    QUEUE_LENGTH = "queue_length", "Queue length (messages)"
    TASK_FAILED = "task_failed", "Failed tasks (count)"
    STUCK_TASKS = "stuck_tasks", "Stuck tasks (count)"
    WORKER_OFFLINE = "worker_offline", "Workers offline (count)"
    COST_USD = "cost_usd", "Cost (USD)"
    MEMORY_PEAK_MB = "memory_peak_mb", "Peak memory (MB)"


class Comparator(models.TextChoices):
    GT = "gt", ">"
    GTE = "gte", ">="
    LT = "lt", "<"
    LTE = "lte", "<="


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


def _new_secret() -> str:
    return secrets.token_hex(32)


class AlertRule(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="alert_rules", verbose_name="brand",
                              help_text="The brand whose data the rule watches.")
    name = models.CharField("name", max_length=120, help_text="Shown in notifications.")
    metric = models.CharField("metric", max_length=32, choices=AlertMetric.choices, help_text="What is measured.")
    task_type = models.CharField("task type", max_length=120, blank=True, default="",
                                 help_text="Only this task type (empty: all).")
    queue = models.CharField("queue", max_length=64, blank=True, default="", help_text="Only this queue (empty: all).")
    comparator = models.CharField("comparator", max_length=3, choices=Comparator.choices, default=Comparator.GT)
    threshold = models.FloatField("threshold", help_text="The value compared with the metric.")
    window_seconds = models.PositiveIntegerField("window (s)", default=300,
                                                 help_text="The metric is computed over this past window.")
    for_seconds = models.PositiveIntegerField("for (s)", default=0,
                                              help_text="The condition must hold this long (pending) before firing.")
    min_samples = models.PositiveIntegerField("minimum samples", default=1,
                                              help_text="Runs needed in the window before a rate or percentile counts.")
    severity = models.CharField("severity", max_length=16, choices=Severity.choices, default=Severity.WARNING)
    cooldown_seconds = models.PositiveIntegerField("cooldown (s)", default=3600,
                                                   help_text="An unacknowledged alert is notified again after this.")
    webhook_urls = models.JSONField("webhook URLs", default=list, blank=True,
                                    help_text="Each receives a signed JSON POST (X-Megahub-Signature).")
    emails = models.JSONField("e-mail addresses", default=list, blank=True)
    secret = models.CharField("webhook secret", max_length=128, default=_new_secret,
                              help_text="HMAC-SHA256 key of the webhook signature.")
    enabled = models.BooleanField("enabled", default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name="created by")
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)
    last_evaluated_at = models.DateTimeField("last evaluated", null=True, blank=True)
    last_value = models.FloatField("last value", null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name




class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts", verbose_name="rule")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", verbose_name="brand",
                              db_index=False)
    scope = models.CharField("scope", max_length=255, blank=True, default="",
                             help_text="What the alert is about within its rule (e.g. a worker); empty: the rule.")
    state = models.CharField("state", max_length=16, choices=AlertState.choices, default=AlertState.PENDING,
                             help_text="Changed only through task_monitoring.alert_states.")
    severity = models.CharField("severity", max_length=16, choices=Severity.choices)
    value = models.FloatField("value", help_text="The metric's latest value while open.")
    threshold = models.FloatField("threshold")
    message = models.TextField("message", blank=True, default="")
    started_at = models.DateTimeField("started at", auto_now_add=True, help_text="When the condition began.")
    fired_at = models.DateTimeField("fired at", null=True, blank=True)
    acknowledged_at = models.DateTimeField("acknowledged at", null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="+", verbose_name="acknowledged by")
    acknowledge_note = models.TextField("acknowledge note", blank=True, default="")
    resolved_at = models.DateTimeField("resolved at", null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name="resolved by",
                                    help_text="Empty when it resolved by itself.")
    last_notified_at = models.DateTimeField("last notified", null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "scope"], condition=models.Q(
            state__in=["pending", "firing", "acknowledged"]), name="one_open_alert_per_rule_scope")]
        indexes = [models.Index(fields=["brand", "state"], name="alert_brand_state"),
                   models.Index(fields=["brand", "-started_at", "-id"], name="alert_brand_started")]

    def __str__(self):
        return f"{self.rule} [{self.scope or '-'}] {self.state}"


class AlertDelivery(models.Model):
    """One notification of an alert on one channel: every attempt is logged here."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries", verbose_name="alert")
    channel = models.CharField("channel", max_length=16, choices=[("webhook", "Webhook"), ("email", "E-mail")])
    target = models.CharField("target", max_length=500, help_text="URL or e-mail address.")
    event = models.CharField("event", max_length=16, help_text="firing, repeat or resolved.")
    status = models.CharField("status", max_length=16, default="pending",
                              choices=[("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed"),
                                       ("refused", "Refused")])
    attempts = models.PositiveIntegerField("attempts", default=0)
    response_code = models.PositiveIntegerField("response code", null=True, blank=True)
    error = models.TextField("error", blank=True, default="")
    created_at = models.DateTimeField("created at", auto_now_add=True)
    sent_at = models.DateTimeField("sent at", null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "alert deliveries"

    def __str__(self):
        return f"{self.channel} {self.target} ({self.status})"
