"""Copies of a task's status in another app's table, kept equal by database triggers (PostgreSQL, SQLite).

An app whose lists filter its own rows by their task's status (a persistent job, a scheduled run) keeps a
copy of that status on the row, so that the filter is a range of one of its own indexes instead of a join
with a million tasks. Core changes a status in many places (the state machine's one-row and bulk writes,
one statement each on PostgreSQL, the ORM elsewhere; task creation; the reaper) and must not know who
copies it. A trigger follows every one of them, bulk ones and raw SQL included, inside the statement that
changes the status:

- `<name>_status`, after an UPDATE OF status of a task, when the status changed: the rows pointing to the
  task take the new status (one probe of the copying table's task index: the cost of every status change,
  copied or not, unless `only_tasks` tells which tasks can have a copy);
- `<name>_insert` and `<name>_relink`, when a row is inserted, or written with its task column (a save of
  the whole row included): it takes its task's status, whatever the writing code said. On PostgreSQL the
  task row is read FOR SHARE, so a status change committed meanwhile by another transaction (whose
  trigger could not see the row yet) either waits for the row's commit or is seen by the write. A row
  whose task is removed (SET NULL) keeps the last status it had. The read comes after the row's lock and
  a status change writes the row after the task's lock: rewriting the task column of a row whose task
  may change status meanwhile can deadlock. The apps link a row to its task in the transaction that
  creates the task, and never save a whole row afterwards.

On PostgreSQL, the app's migration installs them (`install`; its reverse `uninstall`). PostgreSQL refuses
to change the type of a column of `task_core_basetask` a trigger names (`status`, and those `only_tasks`
names): a migration that does must uninstall every copy's triggers first and install them after. After
every `migrate`, `ensure_installed` puts back any that are missing and re-copies every status, or, when
all are there, replaces them with the current definitions.

On SQLite they live outside the migrations: Django alters a table by rebuilding it (create a copy, drop
the old one, rename), and the rename fails while a trigger of another table names the dropped one. So they
are dropped before every `migrate` (`on_pre_migrate`) and installed after it, with a re-copy of every
status (`on_post_migrate`). The app connects both to its own pre_migrate and post_migrate (`connect`).
"""

from dataclasses import dataclass

from django.db import connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.signals import post_migrate, pre_migrate

TASK_TABLE = "task_core_basetask"


@dataclass(frozen=True)
class StatusCopy:
    """`table.column` holds the status of the task `table.task_column` points to, from `migration` on."""

    name: str  # prefix of the triggers and functions
    table: str
    column: str
    migration: tuple[str, str]  # (app label, migration name) that adds the column and installs the triggers
    task_column: str = "task_id"
    # A condition on the changed task row (`NEW.<column>`) that every task with a copying row meets: the
    # status trigger does nothing for the others, in C, without calling its function.
    only_tasks: str = ""

    @property
    def triggers(self) -> tuple[str, str, str]:
        """(on the task table; on the copying table at an insert; at a change of its task column)."""
        return f"{self.name}_status", f"{self.name}_insert", f"{self.name}_relink"

    def _postgresql_install(self) -> list[str]:
        status, insert, relink = self.triggers
        task = self.task_column
        return [
            f"""
CREATE OR REPLACE FUNCTION {status}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE {self.table} SET {self.column} = NEW.status WHERE {task} = NEW.id;
  RETURN NULL;
END $$""",
            f"""
CREATE OR REPLACE TRIGGER {status} AFTER UPDATE OF status ON {TASK_TABLE}
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status{self._only()}) EXECUTE FUNCTION {status}()""",
            f"""
CREATE OR REPLACE FUNCTION {insert}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE task_status varchar;
BEGIN
  SELECT status INTO task_status FROM {TASK_TABLE} WHERE id = NEW.{task} FOR SHARE;
  IF FOUND THEN NEW.{self.column} := task_status; END IF;
  RETURN NEW;
END $$""",
            f"""
CREATE OR REPLACE TRIGGER {insert} BEFORE INSERT ON {self.table}
FOR EACH ROW WHEN (NEW.{task} IS NOT NULL) EXECUTE FUNCTION {insert}()""",
            f"""
CREATE OR REPLACE TRIGGER {relink} BEFORE UPDATE OF {task} ON {self.table}
FOR EACH ROW WHEN (NEW.{task} IS NOT NULL) EXECUTE FUNCTION {insert}()""",
        ]

    def _sqlite_install(self) -> list[str]:
        # No BEFORE trigger may change the written row on SQLite: the row is updated right after the write.
        status, insert, relink = self.triggers
        task = self.task_column
        take = (f"UPDATE {self.table} SET {self.column} = COALESCE((SELECT status FROM {TASK_TABLE} "
                f"WHERE id = NEW.{task}), {self.column}) WHERE rowid = NEW.rowid;")
        return [
            f"""
CREATE TRIGGER IF NOT EXISTS {status} AFTER UPDATE OF status ON {TASK_TABLE}
FOR EACH ROW WHEN OLD.status IS NOT NEW.status{self._only()}
BEGIN
  UPDATE {self.table} SET {self.column} = NEW.status WHERE {task} = NEW.id;
END""",
            f"""
CREATE TRIGGER IF NOT EXISTS {insert} AFTER INSERT ON {self.table}
FOR EACH ROW WHEN NEW.{task} IS NOT NULL
BEGIN
  {take}
END""",
            f"""
CREATE TRIGGER IF NOT EXISTS {relink} AFTER UPDATE OF {task} ON {self.table}
FOR EACH ROW WHEN NEW.{task} IS NOT NULL
BEGIN
  {take}
END""",
        ]

    def _only(self) -> str:
        return f" AND {self.only_tasks}" if self.only_tasks else ""

    def _backfill(self, connection) -> str:
        if connection.vendor == "postgresql":
            return (f"UPDATE {self.table} c SET {self.column} = t.status FROM {TASK_TABLE} t "
                    f"WHERE t.id = c.{self.task_column} AND c.{self.column} IS DISTINCT FROM t.status")
        task_status = f"(SELECT t.status FROM {TASK_TABLE} t WHERE t.id = {self.table}.{self.task_column})"
        return (f"UPDATE {self.table} SET {self.column} = {task_status} "
                f"WHERE {self.task_column} IS NOT NULL AND {self.column} IS NOT {task_status}")

    def install(self, connection) -> None:
        statements = self._postgresql_install() if connection.vendor == "postgresql" else self._sqlite_install()
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def uninstall(self, connection) -> None:
        status, insert, relink = self.triggers
        if connection.vendor == "postgresql":
            statements = [f"DROP TRIGGER IF EXISTS {status} ON {TASK_TABLE}", f"DROP FUNCTION IF EXISTS {status}()",
                          f"DROP TRIGGER IF EXISTS {insert} ON {self.table}",
                          f"DROP TRIGGER IF EXISTS {relink} ON {self.table}", f"DROP FUNCTION IF EXISTS {insert}()"]
        else:
            statements = [f"DROP TRIGGER IF EXISTS {name}" for name in self.triggers]
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def backfill(self, connection) -> int:
        """Copy every task's status to the rows pointing to it; returns the rows corrected."""
        with connection.cursor() as cursor:
            cursor.execute(self._backfill(connection))
            return cursor.rowcount

    def installed(self, connection) -> bool:
        """Whether every trigger is present."""
        names = self.triggers
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s) AND NOT tgisinternal",
                               [list(names)])
            else:
                cursor.execute(f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                               f"AND name IN ({', '.join(['%s'] * len(names))})", names)
            return cursor.fetchone()[0] == len(names)

    def ensure_installed(self, connection) -> bool:
        """After a migrate, once `migration` is applied: when a trigger is missing (always on SQLite: see the
        module), install them and correct the copies, and return True; when all are there (PostgreSQL),
        replace them with this code's definitions (no re-copy) and return False."""
        if connection.vendor not in ("postgresql", "sqlite"):
            return False
        if self.migration not in MigrationRecorder(connection).applied_migrations():
            return False
        with transaction.atomic(using=connection.alias):
            if self.installed(connection):
                self.install(connection)  # CREATE OR REPLACE: an earlier version's triggers are updated
                return False
            self.uninstall(connection)
            self.install(connection)
            self.backfill(connection)
        return True

    def install_in_migration(self, connection) -> None:
        """The app's migration that adds the copy: the triggers (PostgreSQL; on SQLite `on_post_migrate`
        installs them), then the copy of every task's status."""
        if connection.vendor == "postgresql":
            self.install(connection)
        self.backfill(connection)

    def connect(self, app_config) -> None:
        """Connect `on_pre_migrate` and `on_post_migrate` to the app's own migrate signals (its `ready`)."""
        uid = f"{self.name}.status_copy"
        pre_migrate.connect(self.on_pre_migrate, sender=app_config, dispatch_uid=uid)
        post_migrate.connect(self.on_post_migrate, sender=app_config, dispatch_uid=uid)

    def on_pre_migrate(self, sender, using="default", **kwargs) -> None:
        """Django's pre_migrate: on SQLite, out of the way of table rebuilds."""
        connection = connections[using]
        if connection.vendor == "sqlite":
            self.uninstall(connection)

    def on_post_migrate(self, sender, using="default", **kwargs) -> None:
        """Django's post_migrate."""
        self.ensure_installed(connections[using])
