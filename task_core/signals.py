"""Signals core sends so the other apps can react without core importing them.

- task_started(task, worker, ctx)       worker side, after the task is marked running, before it runs
                                        (ctx: the TaskContext; ctx.metrics holds what ctx.metric() reported)
- task_finished(task, status, worker)   worker side, after completed / failed / cancelled / retrying
- task_checkpoint(task, step, state, progress)   a task author called ctx.checkpoint()
- task_resume_state(task) -> state      receivers may return the state a resumed run continues from
- demo_seeded(brand, users) -> str      `manage.py seed_demo` made the demo brand and users; receivers add
                                        their app's demo data (idempotently) and return a line to print
"""

from django.dispatch import Signal

task_started = Signal()
task_finished = Signal()
task_checkpoint = Signal()
task_resume_state = Signal()
demo_seeded = Signal()
