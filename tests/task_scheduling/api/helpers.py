"""What the API tests of task_scheduling share: the paths, the error shape, a template made through the API."""

P = "/tasks/scheduled/periodic-tasks/"
S = "/tasks/scheduled/schedules/"
C = "/tasks/scheduled/calendars/"
J = "/tasks/scheduled/cron-jobs/"


def assert_error(resp, status, code, field=None):
    body = resp.json()
    assert resp.status_code == status, body
    assert set(body) == {"detail", "error_code", "field_errors"}
    assert body["error_code"] == code
    if field:
        assert field in body["field_errors"], body


def create(api, **extra):
    body = {"name": "nightly", "task_type": "demo.echo", "parameters": {"message": "x"}, "kind": "cron",
            "cron_expression": "0 2 * * *", "timezone": "Europe/Paris", **extra}
    return api.post(P, body, format="json")
