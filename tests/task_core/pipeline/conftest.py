"""Fixtures of the pipeline tests."""

from .probe import outbox_type  # noqa: F401 - the fixture
