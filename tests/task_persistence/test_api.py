"""The persistence API: brand scoping, roles, filters (strict), resume rules, and what it adds to /tasks/."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from task_core import services as core_services
from task_core.models import BaseTask
from task_core.state_machine import transition
from task_persistence import services
from task_persistence.models import Checkpoint, PersistentJob

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = "/tasks/persistent-jobs/persistent-jobs/"


def make_job(brand, user, status=None, checkpoints=0, task_type="demo.iterate") -> PersistentJob:
    params = {"items": 10} if task_type == "demo.iterate" else {"keyword_ids": [1, 2, 3]}
    task, _ = core_services.task_create(brand=brand, created_by=user, task_type=task_type, queue="q-nobody",
                                        context_data=params)
    job = PersistentJob.objects.get(task=task)
    if checkpoints:
        transition(task, "running", worker="w1@host")
        services.job_claim(task=task, run_id="r" * 32, worker="w1@host")
        for step in range(1, checkpoints + 1):
            services.checkpoint_write(task=task, run_id="r" * 32, step=step, state={"cursor": step - 1, "done": step})
    if status:
        if task.status != "running":
            transition(task, "running", worker="w1@host")
        transition(task, status)
    return PersistentJob.objects.get(pk=job.pk)


def test_create_with_a_resume_policy_and_the_task_shows_its_job(operator_api):
    resp = operator_api.post("/tasks/", {"task_type": "demo.iterate", "resume_policy": "manual",
                                         "context_data": {"items": 3}}, format="json")
    assert resp.status_code == 201, resp.json()
    job = PersistentJob.objects.get(task_id=resp.json()["id"])
    assert job.resume_policy == "manual"
    assert resp.json()["persistent_job"] == {"id": job.pk, "current_step": 0, "total_steps": None, "resume_count": 0,
                                             "resume_policy": "manual", "last_checkpoint_at": None}
    bad = operator_api.post("/tasks/", {"task_type": "demo.echo", "resume_policy": "manual"}, format="json")
    assert bad.status_code == 400 and "resume_policy" in bad.json()["field_errors"]
    wrong = operator_api.post("/tasks/", {"task_type": "demo.iterate", "resume_policy": "later"}, format="json")
    assert wrong.status_code == 400 and "resume_policy" in wrong.json()["field_errors"]


def test_the_task_list_shows_persistent_jobs_in_a_constant_number_of_queries(operator_api, brand, operator):
    make_job(brand, operator, checkpoints=2)
    with CaptureQueriesContext(connection) as few:
        assert operator_api.get("/tasks/").status_code == 200
    for _ in range(5):
        make_job(brand, operator, checkpoints=1)
        core_services.task_create(brand=brand, created_by=operator, task_type="demo.echo", queue="q-nobody")
    with CaptureQueriesContext(connection) as many:
        body = operator_api.get("/tasks/").json()
    assert len(many) == len(few)
    shown = [t["persistent_job"] for t in body["results"]]
    assert shown.count(None) == 5 and all(j["last_checkpoint_at"] for j in shown if j)


def test_is_resumable_filters_tasks_that_can_be_resumed_now(operator_api, brand, operator):
    interrupted = make_job(brand, operator, status="interrupted")
    failed_with_checkpoint = make_job(brand, operator, status="failed", checkpoints=1)
    make_job(brand, operator, status="failed")  # no checkpoint: nothing to resume from
    make_job(brand, operator, status="completed", checkpoints=2)
    ids = {t["id"] for t in operator_api.get("/tasks/?is_resumable=true").json()["results"]}
    assert ids == {interrupted.task_id, failed_with_checkpoint.task_id}
    others = {t["id"] for t in operator_api.get("/tasks/?is_resumable=false").json()["results"]}
    assert len(others) == 2 and not others & ids


def test_job_list_filters_and_refuses_unknown_parameters(operator_api, brand, operator, other_brand, outsider):
    iterate = make_job(brand, operator, status="interrupted")
    seo = make_job(brand, operator, task_type="seo_bulk_keyword_refresh")
    foreign = make_job(other_brand, outsider, status="interrupted")

    def ids(query):
        resp = operator_api.get(JOBS + query)
        assert resp.status_code == 200, resp.json()
        return [j["id"] for j in resp.json()["results"]]

    assert ids("") == [seo.pk, iterate.pk]
    assert ids("?status=interrupted") == [iterate.pk]
    assert ids("?task_type=seo_bulk_keyword_refresh") == [seo.pk]
    assert ids("?resumable=true") == [iterate.pk] == ids("resumable/")
    assert ids("?resumable=false") == [seo.pk]
    resp = operator_api.get(JOBS + "?has_checkpoints=1")
    assert resp.status_code == 400 and "has_checkpoints" in resp.json()["field_errors"]
    resp = operator_api.get(JOBS + "?status=sleeping")
    assert resp.status_code == 400 and "status" in resp.json()["field_errors"]
    assert operator_api.get(f"{JOBS}{foreign.pk}/").status_code == 404
    assert operator_api.get(f"{JOBS}{foreign.pk}/").json()["error_code"] == "PERSISTENT_JOB_NOT_FOUND"
    assert operator_api.post(f"{JOBS}{foreign.pk}/resume/").status_code == 404


def test_job_list_filters_answer_what_the_tasks_statuses_say(operator_api, brand, operator, other_brand, outsider):
    """The filters read the job's own copy of its task's status: the rows are those its task's status and
    the job's checkpoint say, newest first, whatever path moved the task."""
    jobs = [make_job(brand, operator, status=status, checkpoints=checkpoints) for status, checkpoints in [
        ("interrupted", 0), ("interrupted", 2), ("failed", 1), ("failed", 0), ("completed", 2), (None, 0),
        ("cancelled", 0), ("running", 1)]]
    make_job(other_brand, outsider, status="interrupted")
    BaseTask.objects.filter(pk=jobs[-1].task_id).update(status="interrupted")  # not through the state machine

    def ids(query):
        resp = operator_api.get(JOBS + query)
        assert resp.status_code == 200, resp.json()
        return [j["id"] for j in resp.json()["results"]]

    newest_first = [j.pk for j in reversed(jobs)]
    tasks = dict(BaseTask.objects.filter(pk__in=[j.task_id for j in jobs]).values_list("pk", "status"))
    status_of = {j.pk: tasks[j.task_id] for j in jobs}
    resumable = [pk for pk in newest_first if status_of[pk] == "interrupted" or (
        status_of[pk] == "failed" and PersistentJob.objects.get(pk=pk).last_checkpoint_id)]
    assert len(resumable) == 4
    for status in ("interrupted", "failed", "completed", "queued", "cancelled", "running"):
        assert ids(f"?status={status}") == [pk for pk in newest_first if status_of[pk] == status], status
    assert ids("?status=failed&status=cancelled") == [pk for pk in newest_first
                                                      if status_of[pk] in ("failed", "cancelled")]
    assert ids("?resumable=true") == resumable == ids("resumable/")
    assert ids("?resumable=false") == [pk for pk in newest_first if pk not in resumable]
    assert ids("?status=interrupted&resumable=true") == [pk for pk in resumable if status_of[pk] == "interrupted"]
    shown = {j["id"]: (j["status"], j["task"]["status"], j["resumable"])
             for j in operator_api.get(JOBS + "?page_size=50").json()["results"]}
    assert shown == {pk: (status_of[pk], status_of[pk], pk in resumable) for pk in newest_first}


def test_checkpoint_lists_filter_by_job_and_task(operator_api, brand, operator):
    first = make_job(brand, operator, checkpoints=3)
    second = make_job(brand, operator, checkpoints=1)
    own = operator_api.get(f"{JOBS}{first.pk}/checkpoints/").json()["results"]
    assert [c["sequence"] for c in own] == [3, 2, 1] and own[0]["state"] == {"cursor": 2, "done": 3}
    by_job = operator_api.get(f"/tasks/persistent-jobs/checkpoints/?job={second.pk}").json()["results"]
    by_task = operator_api.get(f"/tasks/persistent-jobs/checkpoints/?task={first.task_id}").json()["results"]
    assert [c["job"] for c in by_job] == [second.pk] and {c["task"] for c in by_task} == {first.task_id}
    assert operator_api.get("/tasks/persistent-jobs/checkpoints/?sequence=1").status_code == 400


def test_viewers_read_and_only_operators_resume(api, viewer, brand, operator):
    job = make_job(brand, operator, status="interrupted")
    client = api(viewer, brand)
    assert client.get(f"{JOBS}{job.pk}/").json()["resumable"] is True
    assert client.post(f"{JOBS}{job.pk}/resume/").status_code == 403


def test_resume_of_a_failed_job_is_a_new_task_continuing_from_its_checkpoint(operator_api, brand, operator):
    job = make_job(brand, operator, status="failed", checkpoints=4)
    earlier = Checkpoint.objects.get(job=job, sequence=2)
    resp = operator_api.post(f"{JOBS}{job.pk}/resume/", {"checkpoint": earlier.pk}, format="json")
    assert resp.status_code == 201, resp.json()
    new = BaseTask.objects.get(pk=resp.json()["id"])
    assert (new.origin, new.retry_of_id, new.task_type) == ("resume", job.task_id, "demo.iterate")
    new_job = PersistentJob.objects.select_related("last_checkpoint").get(task=new)
    assert new_job.resumed_from_id == job.pk and new_job.resume_count == 1
    assert new_job.last_checkpoint.state == {"cursor": 1, "done": 2} and new_job.current_step == 2
    assert "resumed as task" in job.task.events.last().detail
    other = operator_api.post(f"{JOBS}{job.pk}/resume/", {"checkpoint": 999999}, format="json")
    assert other.status_code == 404 and "checkpoint" in other.json()["field_errors"]


def test_completed_queued_and_cancelled_jobs_cannot_be_resumed(operator_api, brand, operator):
    for status in ("completed", None, "cancelled"):
        job = make_job(brand, operator, status=status)
        resp = operator_api.post(f"{JOBS}{job.pk}/resume/")
        assert resp.status_code == 409 and resp.json()["error_code"] == "INVALID_TRANSITION", resp.json()


def test_persistence_lists_query_count_does_not_grow_with_the_page(operator_api, brand, operator):
    from tests.lists import queries_per_size

    jobs = [make_job(brand, operator, status="interrupted", checkpoints=3) for _ in range(6)]
    one_job = (1, 2)  # of its three checkpoints (a page holding them all is counted without a statement)
    for url, params, sizes in [
        (JOBS, {}, (2, 5)), (JOBS, {"status": "interrupted", "task_type": "demo.iterate"}, (2, 5)),
        (JOBS, {"resumable": "true"}, (2, 5)), (f"{JOBS}resumable/", {}, (2, 5)),
        ("/tasks/persistent-jobs/checkpoints/", {}, (2, 5)),
        ("/tasks/persistent-jobs/checkpoints/", {"task": jobs[0].task_id}, one_job),
        (f"{JOBS}{jobs[0].pk}/checkpoints/", {}, one_job),
    ]:
        counts = queries_per_size(operator_api, url, params, sizes=sizes)
        assert counts[sizes[0]] == counts[sizes[1]], (url, params, counts)
