import pytest
from django.contrib.auth import get_user_model

from task_core.models import BaseTask, BrandMembership, BrandRole
from task_persistence.models import PersistentJob

from .test_api import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def staff(brand, role):
    user = get_user_model().objects.create_user(username=f"staff-{role}", password="x-pass-123", is_staff=True)
    BrandMembership.objects.create(user=user, brand=brand, role=role)
    return user


def test_job_page_shows_its_checkpoints_and_operators_resume_from_the_list(client, brand, operator):
    job = make_job(brand, operator, status="interrupted", checkpoints=2)
    PersistentJob.objects.filter(pk=job.pk).update(last_checkpoint=job.checkpoints.get(sequence=1))
    client.force_login(staff(brand, BrandRole.OPERATOR))
    page = client.get(f"/admin/task_persistence/persistentjob/{job.pk}/change/")
    assert page.status_code == 200 and b'<td class="field-sequence">2</td>' in page.content  # the inline

    resp = client.post("/admin/task_persistence/persistentjob/",
                       {"action": "resume_jobs", "_selected_action": [job.pk]}, follow=True)
    assert "Resumed: 1 done." in resp.content.decode()
    assert PersistentJob.objects.get(pk=job.pk).resume_count == 1
    history = list(BaseTask.objects.get(pk=job.task_id).events.values_list("to_status", "detail"))
    assert history[-2:] == [("interrupted", "resume requested by staff-operator, from checkpoint #1 (step 1)"),
                            ("queued", "resumed by staff-operator")], history


def test_a_viewer_cannot_resume(client, brand, operator):
    job = make_job(brand, operator, status="interrupted", checkpoints=1)
    client.force_login(staff(brand, BrandRole.VIEWER))
    resp = client.post("/admin/task_persistence/persistentjob/",
                       {"action": "resume_jobs", "_selected_action": [job.pk]}, follow=True)
    assert "needs the operator role" in resp.content.decode()
    assert PersistentJob.objects.get(pk=job.pk).resume_count == 0
