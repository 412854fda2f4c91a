# The pipeline tests' fixtures: a private worker per test (killed at teardown) and a private queue.
from ..task_core.test_pipeline_live import queue, workers  # noqa: F401
