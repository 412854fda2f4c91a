import pytest

from task_scheduling import services


@pytest.fixture
def make_template(brand, operator):
    def make(brand=brand, **fields):
        values = {"name": f"t{make.n}", "task_type": "demo.echo", "parameters": {"message": "hi"},
                  "kind": "interval", "interval_seconds": 3600}
        values.update(fields)
        make.n += 1
        return services.periodic_task_create(brand=brand, created_by=operator, **values)

    make.n = 0
    return make


@pytest.fixture
def admin_api(api, brand_admin, brand):
    return api(brand_admin, brand)


@pytest.fixture
def viewer_api(api, viewer, brand):
    return api(viewer, brand)
