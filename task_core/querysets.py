from datetime import timedelta

from django.db import models
from django.utils import timezone

from .choices import TaskStatus

# Relations the task representation shows; apps add theirs with register_task_field(select_related=...).
TASK_RELATIONS = ["brand", "created_by"]
# The columns of those relations the list reads (paths, `created_by__username`); a relation without any
# here is loaded whole. Apps add theirs with register_task_field(only=...).
TASK_RELATION_COLUMNS = ["created_by__id", "created_by__username"]


class BaseTaskQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def with_relations(self):
        return self.select_related(*TASK_RELATIONS)

    def unfinished(self):
        return self.filter(status__in=TaskStatus.unfinished())

    def awaiting_dispatch(self, older_than_seconds: int):
        """Pending tasks whose dispatch did not happen (broker down, process died after commit)."""
        cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
        return self.filter(status=TaskStatus.PENDING, created_at__lte=cutoff)


class BrandMembershipQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user, brand__is_active=True)
