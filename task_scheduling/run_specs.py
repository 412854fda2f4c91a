"""What one run of a template asks task_core to create, and core's errors renamed to our field names."""

from megahub.api.exceptions import ApplicationError

from .models import ScheduleTemplate


def task_spec(template: ScheduleTemplate, overrides: dict) -> dict:
    """The keyword arguments of task_core's task_build/task_create for one run of the template."""
    spec = {"task_type": template.task_type, "context_data": {**(template.parameters or {}), **(overrides or {})},
            "priority": template.priority, "description": f"scheduled: {template.name}"[:5000]}
    for name in ("max_retries", "timeout_seconds"):
        if getattr(template, name) is not None:
            spec[name] = getattr(template, name)
    if template.queue:
        spec["queue"] = template.queue
    return spec


def renamed(exc: ApplicationError, field: str) -> ApplicationError:
    """Core names task parameters `context_data`; here they are `parameters` or `parameter_overrides`."""
    exc.field_errors = {(field + k[len("context_data"):] if k.startswith("context_data") else k): v
                        for k, v in exc.field_errors.items()}
    return exc
