"""Every path of /tasks/scheduled/ (and the scheduling part of /tasks/system/), every role, every error."""

import pytest

from task_scheduling.models import Schedule, ScheduleTemplate

from .helpers import C, J, P, S, assert_error, create

pytestmark = pytest.mark.django_db


def path_calls(o):
    t, s, c, j = o["template"], o["schedule"], o["calendar"], o["job"]
    body = {"name": "x", "task_type": "demo.echo", "kind": "manual"}
    return [
        ("get", f"{P}{t}/", None), ("put", f"{P}{t}/", body), ("patch", f"{P}{t}/", {"description": "d"}),
        ("post", f"{P}{t}/pause/", None), ("post", f"{P}{t}/resume/", None), ("post", f"{P}{t}/run-now/", None),
        ("get", f"{P}{t}/executions/", None), ("get", f"{P}{t}/schedules/", None),
        ("post", f"{P}{t}/schedules/", {}), ("get", f"{S}{s}/", None), ("post", f"{S}{s}/pause/", None),
        ("post", f"{S}{s}/resume/", None), ("get", f"{J}{j}/", None), ("get", f"{C}{c}/", None),
        ("put", f"{C}{c}/", {"name": "y"}), ("patch", f"{C}{c}/", {"name": "y"}), ("get", f"{C}{c}/preview/", None),
        ("delete", f"{S}{s}/", None), ("delete", f"{J}{j}/", None), ("delete", f"{C}{c}/", None),
        ("delete", f"{P}{t}/", None),
    ]


CODES = {P: "PERIODIC_TASK_NOT_FOUND", S: "SCHEDULE_NOT_FOUND", C: "CALENDAR_NOT_FOUND", J: "CRON_JOB_NOT_FOUND"}


def test_another_brands_objects_are_404_on_every_path(objects, api, outsider, other_brand):
    assert_error(api().get(P), 401, "NOT_AUTHENTICATED")
    other = api(outsider, other_brand)
    assert other.get(P).json()["count"] == 0
    for method, path, body in path_calls(objects):
        resp = getattr(other, method)(path, body, format="json")
        assert_error(resp, 404, CODES[next(p for p in CODES if path.startswith(p))])
    assert ScheduleTemplate.objects.filter(pk=objects["template"], is_active=True).exists()
    assert Schedule.objects.filter(pk=objects["schedule"], status="active").exists()


def test_a_viewer_may_read_but_every_write_is_403(objects, viewer_api):
    for method, path, body in path_calls(objects):
        resp = getattr(viewer_api, method)(path, body, format="json")
        if method == "get":
            assert resp.status_code == 200, (path, resp.json())
        else:
            assert_error(resp, 403, "PERMISSION_DENIED")
    for path, body in [(P, {"name": "v", "task_type": "demo.echo", "kind": "manual"}), (C, {"name": "v"}),
                       (J, {"name": "v", "task_type": "demo.echo", "run_at": "2099-01-01T00:00:00Z"})]:
        assert_error(viewer_api.post(path, body, format="json"), 403, "PERMISSION_DENIED")
    assert_error(viewer_api.post("/tasks/system/cleanup/orphans/"), 403, "PERMISSION_DENIED")
    assert ScheduleTemplate.objects.count() == 2 and Schedule.objects.filter(status="active").count() == 2


@pytest.mark.parametrize("method,path", [
    ("put", S + "{s}/"), ("patch", S + "{s}/"), ("post", S + "{s}/"), ("put", J + "{j}/"), ("patch", J + "{j}/"),
    ("get", P + "validate-cron/"), ("post", P + "summary/"), ("delete", P + "ready-for-execution/"),
    ("put", "/tasks/system/orphans/"), ("get", "/tasks/system/cleanup/orphans/"),
])
def test_unsupported_methods_are_405(objects, admin_api, method, path):
    resp = getattr(admin_api, method)(path.format(s=objects["schedule"], j=objects["job"]), {}, format="json")
    assert_error(resp, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize("path", [
    P + "?is_active=maybe", P + "?kind=weekly", P + "{t}/?include=everything", P + "{t}/executions/?status=bogus",
    P + "{t}/executions/?due_at__gte=yesterday", S + "?status=sleeping", S + "?periodic_task=abc",
    S + "?periodic_task=0", C + "{c}/preview/?count=abc", C + "{c}/preview/?count=1000",
    "/tasks/?periodic_task=0.5", "/tasks/?periodic_task=abc", S + "{s}/?events=0", S + "{s}/?events=x",
    P + "?is_active=1", P + "?connection_id=0.5", P + "?search=",
])
def test_bad_query_parameters_are_400_naming_them(objects, operator_api, path):
    resp = operator_api.get(path.format(t=objects["template"], c=objects["calendar"], s=objects["schedule"]))
    name = path.split("?", 1)[1].split("=", 1)[0]
    assert_error(resp, 400, "VALIDATION_ERROR", name)


def test_ids_of_another_brand_in_a_body_or_filter_are_404_naming_the_field(operator_api, api, outsider, other_brand):
    """The rule: an id that is not one of the brand's objects is a 404, in the path, in a body or in a query
    filter (there naming the field); the same answer as for an id that does not exist."""
    other = api(outsider, other_brand)
    their_cal = other.post(C, {"name": "theirs"}, format="json").json()["id"]
    their_template = create(other).json()["id"]
    assert_error(create(operator_api, calendar=their_cal), 404, "NOT_FOUND", "calendar")
    assert_error(operator_api.post(f"{P}validate-cron/", {"expression": "@daily", "calendar": their_cal},
                                   format="json"), 404, "NOT_FOUND", "calendar")
    assert_error(operator_api.get(f"/tasks/?periodic_task={their_template}"), 404, "NOT_FOUND", "periodic_task")
    assert_error(operator_api.get(f"{S}?periodic_task={their_template}"), 404, "NOT_FOUND", "periodic_task")
    assert_error(operator_api.get(f"{S}?periodic_task=999999"), 404, "NOT_FOUND", "periodic_task")
    mine = create(operator_api).json()["id"]
    assert operator_api.get(f"/tasks/?periodic_task={mine}").status_code == 200


def test_conflicts_are_409(operator_api, objects):
    t, s = objects["template"], objects["schedule"]
    assert_error(operator_api.post(f"{S}{s}/resume/"), 409, "INVALID_TRANSITION")  # already active
    assert operator_api.post(f"{P}{t}/pause/").status_code == 200
    assert_error(operator_api.post(f"{P}{t}/schedules/", {}, format="json"), 409, "INVALID_TRANSITION")
    assert_error(operator_api.post(f"{S}{s}/resume/"), 409, "INVALID_TRANSITION")  # its template is paused
    assert_error(operator_api.post(f"{S}{s}/pause/"), 409, "INVALID_TRANSITION")  # already paused
    assert_error(operator_api.post(f"{P}{t}/run-now/"), 409, "INVALID_TRANSITION")


def test_openapi_schema_generates(operator_api, api, superuser):
    resp = api(superuser).get("/api/schema/?format=json")
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    for p in ["/tasks/scheduled/periodic-tasks/{id}/run-now/", "/tasks/scheduled/periodic-tasks/validate-cron/",
              "/tasks/scheduled/schedules/{id}/pause/", "/tasks/system/cleanup/orphans/"]:
        assert p in paths
