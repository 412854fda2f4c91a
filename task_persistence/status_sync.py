"""A job's `status` equals its task's: database triggers keep it so, on PostgreSQL and on SQLite.

Core changes a task's status in many places (the state machine's one-row and bulk writes, one statement
each on PostgreSQL, the ORM elsewhere; task creation; the reaper) and must not know about jobs. A trigger
follows every one of them, bulk ones and raw SQL included, inside the statement that changes the status:

- after an UPDATE OF status of a task, when the status changed: the task's job (if any) takes the new
  status (one probe of the job's unique `task_id` index: the cost of every status change, job or not);
- when a job is inserted: it takes its task's status, whatever the inserting code said. On PostgreSQL the
  task row is read FOR SHARE, so a status change committed meanwhile by another transaction (whose
  trigger could not see the job yet) either waits for the job's commit or is seen by the insert.

On PostgreSQL, migration 0002 installs them (and its reverse drops them). PostgreSQL refuses to change the
type of `task_core_basetask.status` while the trigger names it: a migration that does must drop the
triggers first (`uninstall`) and install them after. After every `migrate`, `ensure_installed` puts back
any that are missing and re-copies every task's status.

On SQLite they live outside the migrations: Django alters a table by rebuilding it (create a copy, drop
the old one, rename), and the rename fails while a trigger of another table names the dropped one (a
task_core migration would fail on the job's trigger). So they are dropped before every `migrate`
(`on_pre_migrate`) and installed after it, with a re-copy of every task's status (`on_post_migrate`).
"""

from django.db import connections, transaction
from django.db.migrations.recorder import MigrationRecorder

MIGRATION = ("task_persistence", "0002_persistentjob_status")
TRIGGERS = ("task_persistence_job_status", "task_persistence_job_insert")

_POSTGRESQL_INSTALL = [
    """
CREATE OR REPLACE FUNCTION task_persistence_job_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE task_persistence_persistentjob SET status = NEW.status WHERE task_id = NEW.id;
  RETURN NULL;
END $$
""",
    """
CREATE TRIGGER task_persistence_job_status AFTER UPDATE OF status ON task_core_basetask
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION task_persistence_job_status()
""",
    """
CREATE OR REPLACE FUNCTION task_persistence_job_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT status INTO NEW.status FROM task_core_basetask WHERE id = NEW.task_id FOR SHARE;
  RETURN NEW;
END $$
""",
    """
CREATE TRIGGER task_persistence_job_insert BEFORE INSERT ON task_persistence_persistentjob
FOR EACH ROW EXECUTE FUNCTION task_persistence_job_insert()
""",
]
_POSTGRESQL_UNINSTALL = [
    "DROP TRIGGER IF EXISTS task_persistence_job_status ON task_core_basetask",
    "DROP FUNCTION IF EXISTS task_persistence_job_status()",
    "DROP TRIGGER IF EXISTS task_persistence_job_insert ON task_persistence_persistentjob",
    "DROP FUNCTION IF EXISTS task_persistence_job_insert()",
]
_POSTGRESQL_BACKFILL = """
UPDATE task_persistence_persistentjob j SET status = t.status
FROM task_core_basetask t WHERE t.id = j.task_id AND j.status IS DISTINCT FROM t.status
"""

# SQLite: no BEFORE trigger may change the inserted row, so the job is updated right after its insert.
_SQLITE_INSTALL = [
    """
CREATE TRIGGER IF NOT EXISTS task_persistence_job_status AFTER UPDATE OF status ON task_core_basetask
FOR EACH ROW WHEN OLD.status IS NOT NEW.status
BEGIN
  UPDATE task_persistence_persistentjob SET status = NEW.status WHERE task_id = NEW.id;
END
""",
    """
CREATE TRIGGER IF NOT EXISTS task_persistence_job_insert AFTER INSERT ON task_persistence_persistentjob
FOR EACH ROW
BEGIN
  UPDATE task_persistence_persistentjob SET status = (SELECT status FROM task_core_basetask WHERE id = NEW.task_id)
  WHERE id = NEW.id;
END
""",
]
_SQLITE_UNINSTALL = [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS]
_SQLITE_BACKFILL = """
UPDATE task_persistence_persistentjob SET status = (
    SELECT t.status FROM task_core_basetask t WHERE t.id = task_persistence_persistentjob.task_id)
WHERE status IS NOT (SELECT t.status FROM task_core_basetask t WHERE t.id = task_persistence_persistentjob.task_id)
"""


def _sql(connection, postgresql, sqlite):
    return postgresql if connection.vendor == "postgresql" else sqlite


def install(connection) -> None:
    with connection.cursor() as cursor:
        for statement in _sql(connection, _POSTGRESQL_INSTALL, _SQLITE_INSTALL):
            cursor.execute(statement)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        for statement in _sql(connection, _POSTGRESQL_UNINSTALL, _SQLITE_UNINSTALL):
            cursor.execute(statement)


def backfill(connection) -> int:
    """Copy every task's status to its job; returns the jobs corrected."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(connection, _POSTGRESQL_BACKFILL, _SQLITE_BACKFILL))
        return cursor.rowcount


def installed(connection) -> set[str]:
    """The names of the triggers present."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s) AND NOT tgisinternal",
                           [list(TRIGGERS)])
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN (%s, %s)", TRIGGERS)
        return {row[0] for row in cursor.fetchall()}


def ensure_installed(connection) -> bool:
    """After a migrate: when migration 0002 is applied and a trigger is missing (always on SQLite: see the
    module), install them and correct the jobs. Returns whether it had to."""
    if connection.vendor not in ("postgresql", "sqlite"):
        return False
    if MIGRATION not in MigrationRecorder(connection).applied_migrations():
        return False
    if installed(connection) == set(TRIGGERS):
        return False
    with transaction.atomic(using=connection.alias):
        uninstall(connection)
        install(connection)
        backfill(connection)
    return True


def on_pre_migrate(sender, using="default", **kwargs) -> None:
    """Django's pre_migrate (connected in apps.py): on SQLite, out of the way of table rebuilds."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        uninstall(connection)


def on_post_migrate(sender, using="default", **kwargs) -> None:
    """Django's post_migrate (connected in apps.py)."""
    ensure_installed(connections[using])
