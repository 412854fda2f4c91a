"""Receivers of core's signals (connected in apps.py). Each one ignores tasks of types that are not
resumable, so other tasks pay nothing but the registry lookup."""

from . import selectors, services, shutdown


def on_tasks_created(sender, tasks, extra=None, **kwargs):
    services.jobs_create(tasks=tasks, resume_policy=(extra or {}).get("resume_policy"))


def on_task_started(sender, task, worker="", ctx=None, **kwargs):
    if services.is_resumable(task.task_type):
        services.job_claim(task=task, run_id=ctx.run_id, worker=worker)


def on_task_checkpoint(sender, task, step, state, progress=None, run_id="", **kwargs):
    if not services.is_resumable(task.task_type):
        return
    sequence = services.checkpoint_write(task=task, run_id=run_id, step=step, state=state, progress=progress,
                                         worker=task.worker)
    if shutdown.requested():  # a warm shutdown began: this checkpoint is where the job stops
        services.job_stop_for_shutdown(task=task, worker=task.worker, sequence=sequence)


def on_task_resume_state(sender, task, **kwargs):
    if services.is_resumable(task.task_type):
        return selectors.resume_state(task=task)
    return None


def on_task_interrupted(sender, task, **kwargs):
    if services.is_resumable(task.task_type):
        return services.job_after_interruption(task=task)
    return None
