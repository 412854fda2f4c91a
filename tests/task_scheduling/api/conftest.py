from datetime import timedelta

import pytest
from django.utils import timezone

from task_scheduling.models import Schedule

from .helpers import C, J, create


@pytest.fixture
def objects(operator_api):
    """One of each object of the brand, by id."""
    pk = create(operator_api).json()["id"]
    cal = operator_api.post(C, {"name": "cal"}, format="json").json()["id"]
    run_at = (timezone.now() + timedelta(hours=1)).isoformat()
    job = operator_api.post(J, {"name": "job", "task_type": "demo.echo", "run_at": run_at}, format="json").json()["id"]
    return {"template": pk, "schedule": Schedule.objects.get(periodic_task_id=pk).pk, "calendar": cal, "job": job}
