"""The README's reference workflow, run as written (bash + curl) against a live web server and worker."""

import io
import re
import subprocess
import sys

import pytest
from django.core.management import call_command

from task_core.choices import TaskOrigin
from task_core.models import BaseTask
from task_scheduling.demo import DEMO_NAME
from task_scheduling.models import ScheduleTemplate

from .live import ROOT, LiveProcess, free_port, wait_for, web_answers


def readme_workflow() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Reference workflow"):]
    return re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)




@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_readme_reference_workflow_works_as_written(live_worker):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    password = re.search(r"^\s+operator\s+(\S+)", out.getvalue(), re.MULTILINE).group(1)
    port = free_port()
    web = LiveProcess([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], f"web-{port}")
    web.start()
    try:
        wait_for(lambda: web_answers(port), timeout=30, message="the web server")
        script = readme_workflow()
        assert "BASE=http://localhost:8000" in script and "<printed password>" in script
        script = script.replace("BASE=http://localhost:8000", f"BASE=http://127.0.0.1:{port}")
        script = script.replace("<printed password>", password)
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True, text=True,
                             timeout=120)
    finally:
        web.stop()
    assert run.returncode == 0, f"{run.stderr}\n{run.stdout[-3000:]}"
    assert '"error_code"' not in run.stdout, run.stdout[-3000:]

    seo = BaseTask.objects.get(task_type="seo_keyword_analysis")  # one task, however often step 3 ran
    seo = wait_for(lambda: BaseTask.objects.filter(pk=seo.pk, status="completed").first(), message="the SEO task")
    assert seo.result_data["keywords_processed"] == 5 and "insights_generated" in seo.result_data
    failed = BaseTask.objects.get(task_type="demo.fail", origin=TaskOrigin.API)
    assert failed.status == "failed" and failed.retry_count == 2
    assert BaseTask.objects.filter(retry_of=failed, origin=TaskOrigin.RETRY).count() == 1
    long = BaseTask.objects.get(task_type="demo.sleep")
    assert long.status == "cancelled"
    assert "running" in list(long.events.values_list("to_status", flat=True))  # cancelled while it ran

    # Step 8: the template, its one run (now) completed, then paused; the demo schedule seed_demo made.
    template = ScheduleTemplate.objects.get(name__startswith="weekday echo")
    assert not template.is_active and template.schedules.get().status == "paused"
    run_now = BaseTask.objects.get(task_type="demo.echo", origin=TaskOrigin.SCHEDULE)
    assert run_now.status == "completed" and run_now.result_data == {"echo": {"message": "bonjour"}}
    assert ScheduleTemplate.objects.filter(name=DEMO_NAME, is_active=True).exists()
    # The expected outputs written beside the steps are what the steps printed.
    printed = run.stdout.splitlines()
    for expected in (r"task \d+: completed", "At 09:00, Monday through Friday", "active", "False", "409"):
        assert any(re.fullmatch(expected, line) for line in printed), expected
