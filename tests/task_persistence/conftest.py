# The pipeline tests' fixtures: a private worker per test (killed at teardown) and a private queue.
from ..task_core.pipeline.test_live import queue, workers  # noqa: F401
