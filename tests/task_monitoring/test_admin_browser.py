"""The admin dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no
browser is downloaded): reached from the admin index after a login, its four Chart.js charts hold the
API's figures and are drawn on their canvases."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import sync_playwright

from task_monitoring import selectors

from .factories import finished_task

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread reads the rows

CHROMIUM = "/usr/bin/chromium"
PARKED = "monitoring-tests-parked"  # no worker consumes it
CHARTS = ["chart-throughput", "chart-success-rate", "chart-duration", "chart-cost"]

READ_CHARTS = """ids => Object.fromEntries(ids.map(id => {
  const chart = Chart.getChart(id);
  return [id, {labels: chart.data.labels, datasets: chart.data.datasets.map(d => [d.label, d.data])}];
}))"""

# Pixels of a canvas painted in an exact colour (the fill of a dataset), counted from its bitmap.
COUNT_COLOUR = """([id, rgb]) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i] === rgb[0] && pixels[i + 1] === rgb[1] && pixels[i + 2] === rgb[2] && pixels[i + 3] === 255) n++;
  }
  return n;
}"""


def test_admin_dashboard_draws_the_charts_with_the_brands_data(live_server, brand, other_brand, settings):
    settings.MONITORING_QUEUE_COST_RATES = {PARKED: {"wall_hour_usd": 3600}}  # 1 USD per wall second
    ended = (timezone.now() - timedelta(hours=2)).replace(minute=30, second=0, microsecond=0)  # one hour bucket
    with transaction.atomic():  # the tasks are sent on commit, when they have already finished
        for _ in range(3):
            finished_task(brand, "demo.echo", wall_ms=40, ended=ended, queue=PARKED)
        finished_task(brand, "demo.fail", wall_ms=700, status="failed", error="boom", ended=ended, queue=PARKED)
        finished_task(other_brand, "demo.echo", wall_ms=40, ended=ended, queue=PARKED)
    get_user_model().objects.create_superuser(username="root", password="root-pass-123")
    api = selectors.dashboard(brand=brand, period="24h")
    p95 = [t["execution_time_ms"]["p95"] for t in api["by_task_type"]]
    assert p95[0] < p95[1]  # demo.echo faster than demo.fail

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico")
                    and errors.append(f"{r.status} {r.url}"))
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "root")
            page.fill("#id_password", "root-pass-123")
            page.click("input[type=submit]")
            page.click("a[href='/admin/task_monitoring/dashboard/']")  # linked from the admin index
            page.select_option("#id_brand", str(brand.pk))  # a superuser picks among every brand
            page.select_option("#id_period", "24h")
            page.click("#dashboard-filters input[type=submit]")
            page.wait_for_function("() => window.Chart && Chart.getChart('chart-cost')")
            charts = page.evaluate(READ_CHARTS, CHARTS)
            drawn = {name: page.evaluate(COUNT_COLOUR, [chart, rgb]) for name, chart, rgb in [
                ("completed", "chart-throughput", [0x2E, 0x7D, 0x32]),
                ("failed", "chart-throughput", [0xC6, 0x28, 0x28]),
                ("p95", "chart-duration", [0x15, 0x65, 0xC0]),
                ("cost", "chart-cost", [0xEF, 0x6C, 0x00])]}
            success_card = page.inner_text("#card-success-rate")
        finally:
            browser.close()

    assert errors == []
    throughput = charts["chart-throughput"]
    assert len(throughput["labels"]) == 1 and throughput["labels"][0].endswith(f"{ended:%m-%d %H}h")
    assert throughput["datasets"] == [["completed", [3]], ["failed", [1]], ["cancelled", [0]]]
    assert charts["chart-success-rate"]["datasets"] == [["success rate", [75]]] and success_card == "75 %"
    assert charts["chart-duration"]["labels"] == ["demo.echo", "demo.fail"]
    assert charts["chart-duration"]["datasets"][1] == ["p95", p95]
    assert charts["chart-cost"]["datasets"] == [["cost (USD)", [0.12, 0.7]]]
    # every dataset is painted: the bars of its colour cover pixels of the canvas (the failed bar is a
    # third of the completed one's height)
    assert drawn["completed"] > 2 * drawn["failed"] > 0
    assert drawn["p95"] > 0 and drawn["cost"] > 0
