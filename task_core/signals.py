"""Signals core sends so the other apps can react without core importing them.

- task_started(task, worker, ctx)       worker side, after the task is marked running, before it runs
                                        (ctx: the TaskContext; ctx.metrics holds what ctx.metric() reported,
                                         ctx.run_id names this run)
- task_finished(task, status, worker, written)   after completed / failed / cancelled / retrying, whatever
                                        path; `written`: the apps whose outcome writes (outcome_writes)
                                        were committed with it (they need not write again)
- task_checkpoint(task, step, state, progress, run_id)   a task author called ctx.checkpoint()
- task_resume_state(task, run_id) -> state   receivers may return the state a resumed run continues from
- tasks_created(tasks, created_by, extra)    one or many tasks were inserted; `extra` holds the
  app-contributed create fields (register_task_create_field). Sent inside the creating transaction when
  there is one: always for bulk creation, and for a single task when `extra` is given or its type is
  resumable (a plain create is one autocommitted statement). A receiver that raises there refuses the
  creation (it is rolled back).
- task_interrupted(task, worker) -> bool    core found a run lost (worker killed or restarted) and marked
  the task interrupted; a receiver returning True has taken charge of it (held it for an operator or
  failed it), so core neither runs nor re-sends it now.
- demo_seeded(brand, users) -> str     `manage.py seed_demo` made the demo brand and users; receivers add
  their app's demo data (idempotently) and return a line to print.

`run_id` names one execution of a task (a new one per delivery that runs it): apps use it to refuse the
writes of a run that no longer holds the task (fencing).
"""

from django.dispatch import Signal

task_started = Signal()
task_finished = Signal()
task_checkpoint = Signal()
task_resume_state = Signal()
tasks_created = Signal()
task_interrupted = Signal()
demo_seeded = Signal()
