"""Writes other apps add to the statement that records a run's outcome (PostgreSQL only).

An app registers a builder from its `AppConfig.ready()`:

    register_outcome_write("task_monitoring", build)   # build(task, status, fields) -> OutcomeWrite | None

When a transition into a finishing status (completed, failed, cancelled, retrying) is written outside a
caller's transaction on PostgreSQL, the state machine asks every builder for its write and appends the
CTEs to the outcome's own statement (`pg_writes.update_task`): the outcome and what the apps record
about it commit together, in one round trip and one commit. `task` is the row as the state machine saw
it before the write, `fields` the columns the write sets (status included).

Contract of an `OutcomeWrite`:
- `ctes`: one or more data-modifying CTEs ("name AS (INSERT ... )", comma-separated), with `%s`
  placeholders for `params`, in order. Each must read from `u`, the guarded UPDATE's RETURNING (`id`,
  `brand_id`), so that it writes nothing when the row had moved meanwhile and the outcome is not
  written. Prefix CTE names with the app's name (core uses `nowait`, `u`, `ev`, `d`).
- the text is one of a few fixed forms (it is prepared once per connection and per text, like core's).
- it cannot fail for valid data. If it fails anyway, the state machine logs it and writes the outcome
  again without any app's write, so a failure of an app never loses the outcome.

`task_finished` names the writes that were committed with the outcome (`written`): a receiver records
the outcome itself (its own statement, or the ORM on other databases) when its name is not there, i.e.
on SQLite, inside a caller's transaction, after a failure, or when its builder returned None.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .models import BaseTask

logger = logging.getLogger("megahub.tasks")


@dataclass(frozen=True, slots=True)
class OutcomeWrite:
    ctes: str
    params: list


Builder = Callable[[BaseTask, str, dict], "OutcomeWrite | None"]
_BUILDERS: dict[str, Builder] = {}


def register_outcome_write(name: str, build: Builder) -> None:
    """Add (or replace) the builder of the app `name`; see the module's docstring."""
    _BUILDERS[name] = build


def unregister_outcome_write(name: str) -> None:
    _BUILDERS.pop(name, None)


def collect(task: BaseTask, status: str, fields: dict) -> list[tuple[str, OutcomeWrite]]:
    """Every registered app's write for this outcome. A builder that raises is logged and left out (its
    app then records the outcome from task_finished, as it would on another database)."""
    writes = []
    for name, build in _BUILDERS.items():
        try:
            write = build(task, status, fields)
        except Exception:  # noqa: BLE001 - an app's failure never blocks the outcome
            logger.exception("outcome write %r failed to build for task %s", name, task.pk)
            continue
        if write is not None:
            writes.append((name, write))
    return writes
