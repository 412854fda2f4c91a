import pytest

from task_scheduling.services import templates

# Runs of the templates made here go to a queue no worker consumes, so a run stays unfinished until the
# test finishes it (a live worker of the same session would otherwise complete it behind the test's back).
# Live tests that want their runs executed pass queue="".
PARKED_QUEUE = "scheduling-tests-parked"


@pytest.fixture
def make_template(brand, operator):
    def make(brand=brand, **fields):
        values = {"name": f"t{make.n}", "task_type": "demo.echo", "parameters": {"message": "hi"},
                  "kind": "interval", "interval_seconds": 3600, "queue": PARKED_QUEUE}
        values.update(fields)
        make.n += 1
        return templates.template_create(brand=brand, created_by=operator, **values)

    make.n = 0
    return make


@pytest.fixture
def admin_api(api, brand_admin, brand):
    return api(brand_admin, brand)


@pytest.fixture
def viewer_api(api, viewer, brand):
    return api(viewer, brand)
