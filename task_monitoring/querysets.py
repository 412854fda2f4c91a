from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import AlertState


class TaskMetricsQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)


class WorkerQuerySet(models.QuerySet):
    def online(self):
        """Online and heard from recently: a worker killed without a goodbye drops out by itself."""
        cutoff = timezone.now() - timedelta(seconds=settings.MONITORING_WORKER_OFFLINE_SECONDS)
        return self.filter(status="online", last_heartbeat__gte=cutoff)

    def silent(self):
        """Marked online but not heard from for MONITORING_WORKER_OFFLINE_SECONDS."""
        cutoff = timezone.now() - timedelta(seconds=settings.MONITORING_WORKER_OFFLINE_SECONDS)
        return self.filter(status="online", last_heartbeat__lt=cutoff)


class AlertQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def open(self):
        return self.filter(state__in=AlertState.open())
