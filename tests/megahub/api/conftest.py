"""The scheduling fixtures, for the scheduling lists checked here."""

from tests.task_scheduling.conftest import make_template  # noqa: F401 - the fixture
