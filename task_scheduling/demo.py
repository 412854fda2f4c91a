"""The demo schedule `manage.py seed_demo` (`make run`) gets from this app, so Beat has something to fire."""

from .models import ScheduleTemplate
from .services.templates import template_create

DEMO_NAME = "demo: echo every 5 minutes"


def on_demo_seeded(sender, *, brand, users, **kwargs) -> str:
    """Receiver of core's `demo_seeded`: one active cron template (demo.echo every 5 minutes), once."""
    template = ScheduleTemplate.objects.filter(brand=brand, name=DEMO_NAME).first()
    if template is None:
        template = template_create(
            brand=brand, created_by=users.get("operator"), name=DEMO_NAME, task_type="demo.echo",
            parameters={"message": "hello from Beat"}, kind="cron", cron_expression="*/5 * * * *",
            timezone=brand.timezone, description="Seeded by `manage.py seed_demo`: fires every 5 minutes.")
    return f"Demo schedule: {template.name!r} (template id {template.pk}, {template.cron_expression})."
