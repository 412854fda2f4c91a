import pytest

from task_core.models import BaseTask

from ..live import wait_for


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_submitted_task_runs_on_a_real_worker(live_worker, operator_api):
    resp = operator_api.post("/tasks/", {"task_type": "seo_keyword_analysis",
                                         "context_data": {"keyword_ids": [1, 2, 3, 4, 5], "analysis_depth": "full"}},
                             format="json")
    assert resp.status_code == 201, resp.json()
    pk = resp.json()["id"]
    task = wait_for(lambda: BaseTask.objects.filter(pk=pk, status="completed").first(), message="completion")
    assert task.result_data["keywords_processed"] == 5
    assert task.worker == live_worker.hostname
