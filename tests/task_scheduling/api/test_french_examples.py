"""The French reference's scheduling examples, as written."""

import pytest

from task_core.models import BaseTask
from task_core.state_machine import transition
from tests.live import wait_for

pytestmark = pytest.mark.django_db

STEP_4 = {"cron_expression": "0 9 * * 1-5", "task_type": "daily_seo_report"}


def test_step_4_as_written_is_201_with_a_readable_name_and_the_brands_timezone(operator_api, brand):
    brand.timezone = "Europe/Paris"
    brand.save()
    r = operator_api.post("/tasks/scheduled/periodic-tasks/", STEP_4, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["name"] == "Daily SEO report (0 9 * * 1-5)"
    assert body["timezone"] == "Europe/Paris"
    assert body["kind"] == "cron" and body["schedules_active"] == 1
    assert body["next_run_at"].endswith(("+01:00", "+02:00")) and "T09:00:00" in body["next_run_at"]
    assert body["parameters"] == {"period_hours": 24}

    again = operator_api.post("/tasks/scheduled/periodic-tasks/", STEP_4, format="json")
    assert again.status_code == 201 and again.json()["name"] == "Daily SEO report (0 9 * * 1-5) #2"


def test_an_explicit_name_and_timezone_are_kept(operator_api, brand):
    r = operator_api.post("/tasks/scheduled/periodic-tasks/",
                          {**STEP_4, "name": "Rapport", "timezone": "Asia/Tokyo"}, format="json")
    assert r.status_code == 201 and (r.json()["name"], r.json()["timezone"]) == ("Rapport", "Asia/Tokyo")


def test_put_still_needs_a_name(operator_api):
    created = operator_api.post("/tasks/scheduled/periodic-tasks/", STEP_4, format="json").json()
    r = operator_api.put(f"/tasks/scheduled/periodic-tasks/{created['id']}/", STEP_4, format="json")
    assert r.status_code == 400 and "name" in r.json()["field_errors"]


@pytest.mark.parametrize("key", ["cron_expression", "expression"])
def test_validate_cron_takes_the_create_bodys_name_and_the_alias(viewer_api, key):
    r = viewer_api.post("/tasks/scheduled/periodic-tasks/validate-cron/", {key: "0 9 * * 1-5"}, format="json")
    assert r.status_code == 200 and r.json()["valid"] is True and len(r.json()["next_runs"]) == 5


def test_validate_cron_without_an_expression_names_cron_expression(viewer_api):
    r = viewer_api.post("/tasks/scheduled/periodic-tasks/validate-cron/", {}, format="json")
    assert r.status_code == 400 and "cron_expression" in r.json()["field_errors"]


def _seo(brand, status, result=None):
    task = BaseTask.objects.create(brand=brand, task_type="seo_keyword_analysis", context_data={"keyword_ids": [1]})
    transition(task, "queued")
    transition(task, "running")
    transition(task, status, **({"result_data": result} if result else {}))
    return task


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_daily_seo_report_sums_up_the_brands_recent_analyses(live_worker, operator_api, brand, other_brand):
    _seo(brand, "completed", {"keywords_processed": 500, "insights_generated": 45})
    _seo(brand, "completed", {"keywords_processed": 20, "insights_generated": 1})
    _seo(brand, "failed")
    _seo(other_brand, "completed", {"keywords_processed": 999, "insights_generated": 99})
    r = operator_api.post("/tasks/", {"task_type": "daily_seo_report"}, format="json")
    assert r.status_code == 201
    done = wait_for(lambda: BaseTask.objects.filter(pk=r.json()["id"], status="completed").first(),
                    message="the report")
    report = operator_api.get(f"/tasks/{done.pk}/").json()["result_data"]
    assert report["analyses"]["total"] == 3 and report["analyses"]["completed"] == 2
    assert report["analyses"]["failed"] == 1
    assert (report["keywords_processed"], report["insights_generated"]) == (520, 46)
    assert report["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
