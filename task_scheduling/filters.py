"""The filters task_scheduling contributes to core's /tasks/ list (registered from AppConfig.ready())."""

import django_filters
from rest_framework.exceptions import ValidationError


class PeriodicTaskFilter(django_filters.NumberFilter):
    """Only runs of this periodic task. An id that is not one of the brand's periodic tasks (unknown, or
    another brand's) is a 400 naming the parameter, as an id in a request body is; never an empty 200
    that would read as "it has no runs"."""

    def filter(self, qs, value):
        from .models import PeriodicTask

        if value is None:
            return qs
        brand = getattr(getattr(self.parent, "request", None), "brand", None)
        if value != int(value) or (brand is not None
                                   and not PeriodicTask.objects.filter(pk=int(value), brand=brand).exists()):
            raise ValidationError({"periodic_task": [f"No periodic task with id {value} in this brand."]})
        return qs.filter(scheduled_run__periodic_task_id=int(value))


def register_task_filters() -> None:
    from task_core.filters import register_task_filter

    register_task_filter("is_periodic", django_filters.BooleanFilter(
        field_name="scheduled_run", lookup_expr="isnull", exclude=True,
        help_text="true: only runs created by a schedule or run-now of a periodic task."))
    register_task_filter("periodic_task", PeriodicTaskFilter(
        help_text="Only runs of this periodic task (id of one of the brand's periodic tasks; another id is a 400)."))
