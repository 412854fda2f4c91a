"""How a task type declares itself persistent: resume options, and the iterable form with its runner.

Two ways to write a job (README, "Long jobs that resume"):

1. Any function of a type declared with `resumable_task_type` (or core's `task_type(resumable=True)`)
   calls `ctx.checkpoint(step, state, progress)` and reads `ctx.resume_state` (None on a fresh run).
2. A subclass of `IterableJob` declared with `iterable_task_type`: `enumerate()` yields (cursor, item)
   pairs from the position after a cursor, `process()` handles one item. The runner checkpoints every
   `checkpoint_every` items or `checkpoint_seconds` seconds, and at a warm shutdown. The guarantee is
   at-least-once per item: after a crash the items since the last checkpoint run again, so `process()`
   must be idempotent.
"""

import time
from collections.abc import Iterator
from typing import Any

from task_core.pipeline.context import RunStopped
from task_core.registry import task_type

from . import shutdown
from .models import ResumePolicy
from .options import JobOptions, set_job_options
from .services import job_set_total


def resumable_task_type(name: str, *, resume_policy: str = ResumePolicy.AUTO, max_resumes: int = 10, **kwargs):
    """Core's `task_type(resumable=True, ...)` plus the type's resume policy and resume limit."""
    set_job_options(name, JobOptions(resume_policy=resume_policy, max_resumes=max_resumes))
    return task_type(name, resumable=True, **kwargs)


class IterableJob:
    """A long job as "enumerate from a cursor, process one item". Subclass, then declare it with
    `iterable_task_type`. Parameters (the task's context_data) arrive as keywords everywhere."""

    checkpoint_every: int = 100  # items between checkpoints (0: by time only)
    checkpoint_seconds: float = 5.0  # seconds between checkpoints (0: by count only)

    def total(self, **params) -> int | None:
        """How many items in all, for progress (None if unknown)."""
        return None

    def enumerate(self, ctx, cursor, **params) -> Iterator[tuple[Any, Any]]:
        """Yield (cursor, item) for the items after `cursor` (None: from the start). A cursor is JSON."""
        raise NotImplementedError

    def process(self, ctx, item, acc: dict, **params) -> None:
        """Handle one item; may update `acc`, the running totals saved with each checkpoint. Idempotent."""
        raise NotImplementedError

    def finish(self, ctx, acc: dict, items_done: int, **params):
        """The task's result."""
        return {"items_done": items_done, **acc}


def iterable_task_type(name: str, *, resume_policy: str = ResumePolicy.AUTO, max_resumes: int = 10, **kwargs):
    """Class decorator: register an IterableJob subclass as a resumable task type run by `run_iterable`.

    A `checkpoint_every` parameter in the task's context_data (when the type's schema declares one)
    overrides the class's setting for that task."""

    def decorator(cls: type[IterableJob]):
        def run(ctx, **params):
            return run_iterable(cls(), ctx, params)

        run.__doc__ = cls.__doc__
        resumable_task_type(name, resume_policy=resume_policy, max_resumes=max_resumes, **kwargs)(run)
        return cls

    return decorator


def run_iterable(job: IterableJob, ctx, params: dict):
    """The runner: resume from the last checkpoint's cursor, process items, checkpoint as it goes."""
    saved = ctx.resume_state or {}
    cursor, done, acc = saved.get("cursor"), saved.get("done", 0), saved.get("acc", {})
    every = params.get("checkpoint_every", job.checkpoint_every)
    seconds = job.checkpoint_seconds
    total = job.total(**params)
    if total is not None:
        job_set_total(task=ctx.task, total=total)
    pending, last_at, percent = 0, time.monotonic(), None

    def state() -> dict:
        return {"cursor": cursor, "done": done, "acc": acc}

    for next_cursor, item in job.enumerate(ctx, cursor, **params):
        if shutdown.requested():  # an item boundary: save where we are, then stop (see services)
            ctx.checkpoint(done, state())
            raise RunStopped("worker shutting down")
        job.process(ctx, item, acc, **params)
        cursor, done, pending = next_cursor, done + 1, pending + 1
        if (every and pending >= every) or (seconds and time.monotonic() - last_at >= seconds):
            ctx.checkpoint(done, state())
            pending, last_at = 0, time.monotonic()
        if total:
            now_percent = min(99, 100 * done // total)
            if now_percent != percent:
                ctx.progress(now_percent, f"{done}/{total} items")
                percent = now_percent
    ctx.checkpoint(done, state())  # the last one is fenced too: a run that lost the job does not complete it
    return job.finish(ctx, acc, done, **params)
