"""Alert lifecycle end to end: a live worker and beat, failures -> pending -> firing -> a local HTTP
server receives a correctly signed webhook -> acknowledge -> resolves once failures stop."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from task_monitoring.models import Alert, AlertDelivery, AlertRule

from ..live import LiveBeat, LiveWorker, child_env, wait_for
from .conftest import submit, wait_finished

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def webhook_server():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"body": body, "signature": self.headers.get("X-Megahub-Signature")})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_failures_fire_a_signed_webhook_then_acknowledge_and_resolve(operator_api, brand, operator, queue,
                                                                    webhook_server, settings):
    url, received = webhook_server
    # Evaluation and deliveries on this test's queue: the session's worker (default queue) refuses loopback
    # webhooks, so only this test's worker (which allows them) may evaluate and deliver.
    env = child_env(MONITORING_EVALUATE_SECONDS="1", ALERT_WEBHOOK_ALLOW_PRIVATE="1", MONITORING_NOTIFY_QUEUE=queue)
    worker = LiveWorker(queues=f"default,{queue}", concurrency=2, env=env).start()
    beat = LiveBeat(env=env).start()
    try:
        resp = operator_api.post("/tasks/monitoring/alert-rules/", {
            "name": "demo failures", "metric": "failure_rate", "comparator": "gt", "threshold": 0.5,
            "window_seconds": 600, "for_seconds": 2, "min_samples": 2, "severity": "critical",
            "webhook_urls": [url], "task_type": ""}, format="json")
        assert resp.status_code == 201, resp.content
        rule = AlertRule.objects.get(pk=resp.json()["id"])
        for _ in range(2):
            wait_finished(submit(brand, operator, "demo.fail", queue, max_retries=0))
        alert = wait_for(lambda: Alert.objects.filter(rule=rule).first(), timeout=30, message="an alert opens")
        assert alert.state in ("pending", "firing")
        wait_for(lambda: Alert.objects.filter(pk=alert.pk, state="firing").exists(), timeout=30, message="firing")
        wait_for(lambda: received, timeout=30, message="the webhook")
        hook = received[0]
        expected = "sha256=" + hmac.new(rule.secret.encode(), hook["body"], hashlib.sha256).hexdigest()
        assert hook["signature"] == expected
        payload = json.loads(hook["body"])
        assert payload["event"] == "firing" and payload["alert"]["id"] == alert.pk
        assert wait_for(lambda: AlertDelivery.objects.filter(alert=alert, status="sent").first(),
                        message="delivery logged").response_code == 204
        listed = operator_api.get("/tasks/monitoring/alerts/").json()["results"]
        assert [a["id"] for a in listed] == [alert.pk]

        ack = operator_api.post(f"/tasks/monitoring/alerts/{alert.pk}/acknowledge/", {"note": "on it"}, format="json")
        assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
        assert ack.json()["acknowledged_by"] == operator.username

        for _ in range(3):  # 2 failed of 5: 0.4, below the threshold
            wait_finished(submit(brand, operator, "demo.echo", queue))
        wait_for(lambda: Alert.objects.filter(pk=alert.pk, state="resolved").exists(), timeout=30,
                 message="the alert resolves by itself")
        wait_for(lambda: any(json.loads(h["body"])["event"] == "resolved" for h in received), timeout=30,
                 message="the resolved webhook")
        assert operator_api.get("/tasks/monitoring/alerts/").json()["results"] == []
        assert len(operator_api.get("/tasks/monitoring/alerts/?state=all").json()["results"]) == 1
    finally:
        beat.stop()
        worker.stop()
