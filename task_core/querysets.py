from datetime import timedelta

from django.db import models
from django.utils import timezone

from .choices import TaskStatus

# Relations that other apps' task fields read (register_task_field(..., select_related=...)): loaded with
# the task in the same query, so a page of tasks costs the same number of queries whatever its length.
EXTRA_TASK_RELATIONS: list[str] = []


class BaseTaskQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def with_relations(self):
        return self.select_related("brand", "created_by", *EXTRA_TASK_RELATIONS)

    def unfinished(self):
        return self.filter(status__in=TaskStatus.unfinished())

    def awaiting_dispatch(self, older_than_seconds: int):
        """Pending tasks whose dispatch did not happen (broker down, process died after commit)."""
        cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
        return self.filter(status=TaskStatus.PENDING, created_at__lte=cutoff)


class BrandMembershipQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user, brand__is_active=True)
