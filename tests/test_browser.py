"""The staff console in a real browser (Debian's chromium driven by Playwright; no browser is downloaded)
against a live server: what a superuser and an operator see and can do."""

import os
import re

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from task_core.choices import BrandRole, TaskStatus
from task_core.models import BaseTask, Brand, BrandMembership
from task_core.services import task_create
from task_core.state_machine import transition
from task_scheduling.models import ScheduleTemplate
from task_scheduling.services.templates import template_create

from .task_core.test_admin_console import staff

CHROMIUM = "/usr/bin/chromium"  # apt-get install -y chromium
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()
        # The ORM calls made while Playwright's loop ran used connections of that context: close them here,
        # or the test database cannot be dropped at the end of the session.
        connections.close_all()


def log_in(browser, live_server, username, password):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text("MEGAHUB staff console")
    return page


@pytest.fixture
def operator_staff(brand):
    return staff(brand, "op", BrandRole.OPERATOR)  # password x-pass-123


def test_the_operator_sees_their_brands_gets_html_refusals_and_retries_from_the_task_page(
        browser, live_server, brand, other_brand, operator_staff):
    beta = Brand.objects.create(name="Beta", slug="beta")
    BrandMembership.objects.create(user=operator_staff, brand=beta, role=BrandRole.VIEWER)
    for b in (brand, beta, other_brand):
        template_create(brand=b, name=f"nightly {b.slug}", task_type="demo.echo", kind="cron",
                        cron_expression="0 2 * * *", queue="browser-tests-parked")
    # On a queue no worker reads: a live worker left by an earlier test must not run them behind our back.
    task_create(brand=brand, task_type="seo_keyword_analysis", context_data={"keyword_ids": [1]},
                queue="browser-tests-parked")  # a long name
    task, _ = task_create(brand=brand, task_type="demo.echo", context_data={"message": "hi"},
                          queue="browser-tests-parked")
    assert transition(task, TaskStatus.RUNNING)
    BaseTask.objects.filter(pk=task.pk).update(progress_percentage=40, progress_message="step 4 of 10")
    assert transition(task, TaskStatus.FAILED, error_message="boom")
    page = log_in(browser, live_server, "op", "x-pass-123")

    # "By brand" lists the operator's two brands, never Acme.
    page.goto(f"{live_server.url}/admin/task_scheduling/scheduletemplate/")
    brand_filter = page.locator('#changelist-filter details[data-filter-title="brand"] li')
    expect(brand_filter).to_have_text(["All", "Beta", "Humari"])
    expect(page.locator("#result_list")).not_to_contain_text("Acme")

    # A page the operator may not open is the admin's HTML page, not the API's JSON.
    refused = page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/")
    assert refused.status == 403 and refused.headers["content-type"].startswith("text/html")
    expect(page.locator("h1")).to_have_text("Permission denied")

    # The task list fits a 1366 px screen: no column is cut off or scrolled away.
    page.goto(f"{live_server.url}/admin/task_core/basetask/")
    results = page.locator("#changelist .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the task list scrolls sideways"
    for column in ("origin", "created_short", "took"):
        box = page.locator(f"#result_list td.field-{column}").first.bounding_box()
        assert box and box["x"] + box["width"] <= 1366, column
    expect(page.locator(".toplinks")).to_be_visible()  # the date hierarchy is still there

    # The task page: progress bar with its message, and the retry button, which creates the retry.
    page.goto(f"{live_server.url}/admin/task_core/basetask/{task.pk}/change/")
    expect(page.locator('.field-progress_bar [role="progressbar"]')).to_have_attribute("aria-valuenow", "40")
    expect(page.locator(".megahub-progress-label")).to_have_text("40% · step 4 of 10")
    expect(page.locator("#task-cancel")).to_be_disabled()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#task-retry").click()
    expect(page.locator(".messagelist")).to_contain_text("Retried: 1 done.")
    retry = BaseTask.objects.get(retry_of=task)
    assert page.url.endswith(f"/admin/task_core/basetask/{retry.pk}/change/")
    assert retry.origin == "retry" and retry.created_by == operator_staff


def test_the_template_form_builds_the_parameters_from_the_schema_and_shows_every_error(
        browser, live_server, brand, superuser):
    page = log_in(browser, live_server, "root", "root-pass-123")
    page.goto(f"{live_server.url}/admin/task_scheduling/scheduletemplate/add/")
    page.select_option("#id_brand", str(brand.pk))
    page.fill("#id_name", "keywords nightly")
    page.select_option("#id_task_type", "seo_keyword_analysis")
    keywords = page.locator('.megahub-param[data-param="keyword_ids"]')
    expect(keywords.locator("label")).to_have_text("Keywords *")
    expect(page.locator('.megahub-param[data-param="analysis_depth"] select option')).to_have_text(
        ["(default: quick)", "quick", "full"])
    keywords.locator("input").fill("1, x")
    page.fill("#id_cron_expression", "61 * * * *")
    page.fill("#id_auto_pause_after", "-1")
    page.click("input[name=_save]")

    errors = page.locator(".errorlist li")
    expect(errors.filter(has_text="Invalid cron expression")).to_have_count(1)
    expect(errors.filter(has_text="parameters.keyword_ids.1:")).to_have_count(1)
    expect(errors.filter(has_text="greater than or equal to 0")).to_have_count(1)
    # The rebuilt field keeps what was typed and carries its own error.
    expect(keywords.locator("input")).to_have_value("1, x")
    expect(keywords.locator(".megahub-param-errors")).to_contain_text("is not of type 'integer'")
    assert not ScheduleTemplate.objects.exists()

    keywords.locator("input").fill("1, 2")
    page.fill("#id_cron_expression", "0 3 * * *")
    page.fill("#id_auto_pause_after", "0")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    template = ScheduleTemplate.objects.get()
    assert template.parameters == {"keyword_ids": [1, 2], "analysis_depth": "quick"}
    assert re.fullmatch(r"0 3 \* \* \*", template.cron_expression)


def test_the_api_docs_group_operations_by_app(browser, live_server):
    """Swagger UI as a newcomer meets it: one section per app, each operation with its one-line summary."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/api/docs/")
    sections = page.locator(".opblock-tag-section h3")
    expect(sections.first).to_be_visible(timeout=20_000)
    names = {re.sub(r"\s+", " ", text).strip().split(" ")[0] for text in sections.all_inner_texts()}
    assert {"auth", "tasks", "system", "monitoring", "persistence", "scheduling"} <= names
    tasks = page.locator(".opblock-tag-section", has=page.locator("h3", has_text=re.compile(r"^tasks")))
    summaries = tasks.locator(".opblock-summary-description").all_inner_texts()
    assert summaries and all(s.strip() for s in summaries)  # every operation says what it does
