"""The one formatter and parser of our Beat row names."""

import pytest

from task_scheduling.beat_names import beat_name, schedule_id_of


@pytest.mark.parametrize("name,expected", [
    (beat_name(42), 42), ("megahub-schedule-7", 7), ("megahub-schedule-", None), ("megahub-schedule-x1", None),
    ("megahub-schedule-²", None), ("celery.backend_cleanup", None), ("other-schedule-3", None),
])
def test_a_row_name_gives_its_schedule_id_or_none(name, expected):
    assert schedule_id_of(name) == expected
