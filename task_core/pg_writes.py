"""The state machine's writes as single PostgreSQL statements (data-modifying CTEs).

Each write of a task row and its TaskEvent is one statement: one round trip and one commit, where the
ORM needs BEGIN, UPDATE, INSERT, COMMIT. This is most of what a short task costs (docs/benchmarks.md).
Only `task_core.state_machine` calls these, and only on PostgreSQL; elsewhere it takes the ORM path
(`orm_writes`, same functions), which writes the same rows (tests/task_core/test_writes.py).
"""

import hashlib
import re
import weakref
from collections import Counter
from functools import cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from .models import BaseTask, TaskEvent, TaskStatusDelta

_TASK = BaseTask._meta.db_table
_EVENT = TaskEvent._meta.db_table
# Every statement that changes a status appends its TaskStatusDelta row(s) too (task_core.status_counts).
_DELTA = f"{TaskStatusDelta._meta.db_table} (brand_id, from_status, to_status, n)"
_EVENT_FIELDS = ("from_status", "to_status", "actor", "worker", "detail", "created_at")


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


# Names of the statements prepared on each open psycopg connection (a reconnect starts empty).
_prepared_on: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()


@cache
def _prepared_forms(sql: str) -> tuple[str, str, str]:
    """(name, PREPARE statement, EXECUTE statement with %s placeholders) of one of the SQL texts here."""
    count = iter(range(1, sql.count("%s") + 1))
    name = "megahub_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
    body = re.sub(r"%s", lambda _m: f"${next(count)}", sql)
    return name, f"PREPARE {name} AS {body}", f"EXECUTE {name}({', '.join(['%s'] * sql.count('%s'))})"


def run_prepared(cursor, sql: str, params: list) -> None:
    """Execute one of this module's statements, as a statement prepared once per connection.

    Planning one of these CTEs costs PostgreSQL more CPU than running it (docs/benchmarks.md). PREPARE is not
    transactional: a rollback keeps it. PG_PREPARED_STATEMENTS=False (e.g. behind a transaction-pooling
    PgBouncer) plans every time.
    """
    if settings.PG_PREPARED_STATEMENTS:
        name, prepare, execute = _prepared_forms(sql)
        prepared = _prepared_on.setdefault(cursor.db.connection, set())
        if name not in prepared:
            cursor.execute(prepare)
            prepared.add(name)
        sql = execute
    cursor.execute(sql, params)


@cache
def _event_sql() -> tuple[str, str]:
    """The event columns (task first) and the placeholders of the rest."""
    cols = ", ".join(["task_id", *(_q(TaskEvent._meta.get_field(f).column) for f in _EVENT_FIELDS)])
    return cols, ", ".join(["%s"] * len(_EVENT_FIELDS))


def _event_params(event: dict) -> list:
    actor = event.get("actor")
    return [event["from_status"], event["to_status"], getattr(actor, "pk", actor), event.get("worker", ""),
            event.get("detail", "")[:5000], timezone.now()]


@cache
def _insert_sql(n_events: int = 1) -> str:
    """The INSERT of a task with its `n_events` first events (in order) and its status delta."""
    fields = [f for f in BaseTask._meta.concrete_fields if f is not BaseTask._meta.pk]
    event_cols, event_values = _event_sql()
    if n_events == 1:
        events = f"SELECT t.id, {event_values} FROM t"
    else:
        # The events that differ (from, to, actor, detail) as rows; one INSERT numbers them in this order.
        actor = f"CAST(%s AS {TaskEvent._meta.get_field('actor').db_type(connection)})"
        rows = ", ".join(f"({n}, %s, %s, {actor}, %s)" for n in range(n_events))
        events = (f"SELECT t.id, x.from_status, x.to_status, x.actor, %s, x.detail, %s FROM t "
                  f"CROSS JOIN (VALUES {rows}) AS x(n, from_status, to_status, actor, detail) ORDER BY x.n")
    return (f"WITH t AS (INSERT INTO {_TASK} ({', '.join(_q(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id, brand_id, status), "
            f"ev AS (INSERT INTO {_EVENT} ({event_cols}) {events}), "
            f"d AS (INSERT INTO {_DELTA} SELECT brand_id, '', status, 1 FROM t) SELECT id FROM t")


def insert_task(task: BaseTask, event: dict, *then: dict, at_creation: tuple[str, ...] = ()) -> int:
    """INSERT the task and its first event, and the events `then` of the transitions it was created
    through (e.g. pending -> queued; `task.status` is the last one's), in one statement; returns the new
    primary key. `then` events share the first one's worker and time. `at_creation`: timestamp fields
    (e.g. queued_at) set to the creation time (created_at), on `task` too."""
    plan = _copy_plan()[0]
    conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: `connection` is a per-access proxy
    params = []
    for field, attname, unchanged, stamped in plan:
        if stamped:
            value = field.pre_save(task, add=True)
        elif attname in at_creation:
            value = task.created_at  # set by pre_save above: created_at precedes the other stamps
            setattr(task, attname, value)
        else:
            value = getattr(task, attname)
        if not (value is None or unchanged is object or type(value) is unchanged):
            value = field.get_db_prep_save(value, conn)
        params.append(value)
    if then:
        params += [event.get("worker", ""), timezone.now()]
        for ev in (event, *then):
            actor = ev.get("actor")
            params += [ev["from_status"], ev["to_status"], getattr(actor, "pk", actor), ev.get("detail", "")[:5000]]
    else:
        params += _event_params(event)
    with conn.cursor() as cursor:
        run_prepared(cursor, _insert_sql(1 + len(then)), params)
        return cursor.fetchone()[0]


# What get_db_prep_save does to a value, per column type, on PostgreSQL: nothing (foreign keys: the id,
# once _prepare_related_fields_for_save has checked it; datetimes: an aware one, and a creation sets
# only created_at, by pre_save), or nothing to a value of exactly this Python type (str() of a str,
# int() of an int). Other values and other fields (JSONField wraps its value for jsonb) go through the
# field's own get_db_prep_save, as in the ORM.
_UNCHANGED = {"AutoField": object, "BigAutoField": object, "DateTimeField": object, "ForeignKey": object,
              "UUIDField": object, "CharField": str, "SlugField": str, "TextField": str, "BooleanField": bool,
              "IntegerField": int, "BigIntegerField": int, "PositiveIntegerField": int,
              "PositiveSmallIntegerField": int, "SmallIntegerField": int}


@cache
def _copy_plan() -> tuple[tuple, str, str]:
    """(per column: field, attname, the Python type of values written unchanged (object: all), whether
    pre_save sets it), and the COPY statements of tasks and of their events."""
    fields = [f for f in BaseTask._meta.concrete_fields if f is not BaseTask._meta.pk]
    plan = tuple((f, f.attname, _UNCHANGED.get(f.get_internal_type()),
                  bool(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))) for f in fields)
    names = [f.name for f in fields]  # insert_task's at_creation stamps are read after created_at is set
    assert all(names.index("created_at") < names.index(name) for name in ("queued_at", "started_at", "completed_at"))
    tasks = f"COPY {_TASK} (id, {', '.join(_q(f.column) for f in fields)}) FROM STDIN"
    events = f"COPY {_EVENT} ({_event_sql()[0]}) FROM STDIN"
    return plan, tasks, events


def insert_many(tasks: list[BaseTask], event: dict) -> None:
    """Insert new tasks and one first event each (`event` without its task) by COPY; sets each pk.

    COPY returns nothing, so the ids are taken from the table's sequence first. It is faster than the
    ORM's bulk INSERTs of rows and events (docs/benchmarks.md), and a bulk submission's workers wait for
    its commit. Django's execute wrappers (query counts) see the
    nextval SELECT and the delta INSERT but not the two COPYs.
    """
    plan, copy_tasks, copy_events = _copy_plan()
    conn = connections[DEFAULT_DB_ALIAS]
    with conn.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       [_TASK, len(tasks)])
        ids = [row[0] for row in cursor.fetchall()]
        # The raw psycopg cursor (Django has no COPY); its errors still become Django's.
        with conn.wrap_database_errors, cursor.cursor.copy(copy_tasks) as copy:
            for pk, task in zip(ids, tasks, strict=True):
                # As bulk_create: refuses an unsaved related object, takes the id of one saved since.
                task._prepare_related_fields_for_save(operation_name="create_many")
                row = [pk]
                for field, attname, unchanged, stamped in plan:
                    value = field.pre_save(task, add=True) if stamped else getattr(task, attname)
                    if not (value is None or unchanged is object or type(value) is unchanged):
                        value = field.get_db_prep_save(value, conn)
                    row.append(value)
                copy.write_row(row)
                task.pk = pk
                task._state.adding, task._state.db = False, conn.alias
        event_row = _event_params(event)
        with conn.wrap_database_errors, cursor.cursor.copy(copy_events) as copy:
            for task in tasks:
                copy.write_row([task.pk, *event_row])
        per_brand = Counter(task.brand_id for task in tasks)
        cursor.execute(f"INSERT INTO {_DELTA} VALUES {', '.join(['(%s, %s, %s, %s)'] * len(per_brand))}",
                       [v for brand_id, n in per_brand.items() for v in (brand_id, "", event["to_status"], n)])


# A CTE that makes the statement's own commit asynchronous (`synchronous_commit` is read at commit
# time, and `true` limits it to this transaction): the commit returns before its WAL reaches the disk.
# Only for writes whose loss in a database crash the pipeline recovers from (see state_machine).
_NO_WAIT = "nowait AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))"


@cache
def _update_sql(names: tuple[str, ...], with_event: bool, durable: bool = True,
                extra: tuple[str, ...] = ()) -> tuple[str, tuple]:
    fields = tuple(BaseTask._meta.get_field(name) for name in names)
    sets = ", ".join(f"{_q(f.column)} = %s" for f in fields)
    ctes = [] if durable else [_NO_WAIT]
    ctes.append(f"u AS (UPDATE {_TASK} SET {sets} {'' if durable else 'FROM nowait '}"
                f"WHERE id = %s AND status = %s RETURNING id, brand_id)")
    if with_event:
        event_cols, event_values = _event_sql()
        ctes.append(f"ev AS (INSERT INTO {_EVENT} ({event_cols}) SELECT u.id, {event_values} FROM u)")
    ctes.append(f"d AS (INSERT INTO {_DELTA} SELECT brand_id, %s, %s, 1 FROM u)")
    ctes += extra  # other apps' writes about an outcome (task_core.outcome_writes), after core's own
    return f"WITH {', '.join(ctes)} SELECT id FROM u", fields


def update_task(pk: int, current: str, values: dict, event: dict | None, *, durable: bool = True,
                extra: tuple = ()) -> bool:
    """The guarded UPDATE (`WHERE status = current`) and its event; True if the row was in `current`.
    `durable=False`: the commit does not wait for the disk (`_NO_WAIT`). `extra`: OutcomeWrites of other
    apps (task_core.outcome_writes), whose CTEs and parameters are appended to the statement."""
    sql, fields = _update_sql(tuple(values), event is not None, durable, tuple(w.ctes for w in extra))
    conn = connections[DEFAULT_DB_ALIAS]
    params = [f.get_db_prep_save(v, conn) for f, v in zip(fields, values.values(), strict=True)]
    params += [pk, current]
    if event is not None:
        params += _event_params(event)
    params += [current, values["status"]]
    for write in extra:
        params += write.params
    with conn.cursor() as cursor:
        run_prepared(cursor, sql, params)
        return cursor.rowcount > 0


@cache
def _update_many_sql(names: tuple[str, ...], durable: bool) -> tuple[str, tuple]:
    fields = tuple(BaseTask._meta.get_field(name) for name in names)
    sets = ", ".join(f"{_q(f.column)} = %s" for f in fields)
    event_cols = ", ".join(_q(TaskEvent._meta.get_field(f).column) for f in _EVENT_FIELDS)
    sql = f"""
        WITH {"" if durable else _NO_WAIT + ","} cur AS (
            SELECT id FROM {_TASK} WHERE id = ANY(%s) AND status = %s ORDER BY id FOR UPDATE
        ), u AS (
            UPDATE {_TASK} t SET {sets} FROM cur{"" if durable else ", nowait"} WHERE t.id = cur.id
            RETURNING t.id, t.brand_id
        ), ev AS (
            INSERT INTO {_EVENT} (task_id, {event_cols})
            SELECT u.id, %s, %s, NULL, '', %s, %s FROM u ORDER BY u.id
        ), d AS (
            INSERT INTO {_DELTA} SELECT brand_id, %s, %s, COUNT(*) FROM u GROUP BY brand_id
        )
        SELECT id FROM u ORDER BY id"""
    return sql, fields


def update_many(pks: list[int], current: str, values: dict, *, detail: str, durable: bool = True) -> list[int]:
    """The bulk guarded UPDATE: the tasks of `pks` still in `current` are locked in id order, updated and
    given one event each, in one statement; returns their ids. `values` must include `status`."""
    sql, fields = _update_many_sql(tuple(values), durable)
    conn = connections[DEFAULT_DB_ALIAS]
    params = [list(pks), current]
    params += [f.get_db_prep_save(v, conn) for f, v in zip(fields, values.values(), strict=True)]
    params += [current, values["status"], detail, timezone.now(), current, values["status"]]
    with conn.cursor() as cursor:
        run_prepared(cursor, sql, params)
        return [row[0] for row in cursor.fetchall()]


@cache
def _start_sql(n_from: int, durable: bool) -> str:
    cols = ", ".join(f"t.{_q(f.column)}" for f in BaseTask._meta.concrete_fields)
    event_cols = ", ".join(_q(TaskEvent._meta.get_field(f).column) for f in _EVENT_FIELDS)
    return f"""
        WITH {"" if durable else _NO_WAIT + ","} cur AS (
            SELECT id, status FROM {_TASK} WHERE task_id = %s AND status IN ({", ".join(["%s"] * n_from)})
            FOR UPDATE
        ), u AS (
            UPDATE {_TASK} t SET status = %s, worker = %s, worker_pid = %s,
                -- Clocks of two processes (or vCPUs) can disagree by a little: never let a stamp
                -- precede the one before it in the lifecycle.
                started_at = GREATEST(%s, t.queued_at, t.created_at),
                queued_at = COALESCE(t.queued_at, GREATEST(%s, t.created_at))
            FROM cur{"" if durable else ", nowait"} WHERE t.id = cur.id
            RETURNING {cols}, cur.status AS previous_status
        ), ev AS (
            INSERT INTO {_EVENT} (task_id, {event_cols})
            SELECT u.id, x.from_status, x.to_status, NULL, %s, x.detail, %s
            FROM u CROSS JOIN LATERAL (VALUES
                (1, %s, %s, %s || ' ' || u.queue),
                (2, CASE WHEN u.previous_status = %s THEN %s ELSE u.previous_status END, %s, 'started')
            ) AS x(n, from_status, to_status, detail)
            WHERE x.n = 2 OR u.previous_status = %s
            ORDER BY x.n
        ), d AS (
            INSERT INTO {_DELTA} SELECT u.brand_id, u.previous_status, %s, 1 FROM u
        )
        SELECT * FROM u"""


def start_run(task_uuid, *, from_statuses: tuple[str, ...], pending: str, queued: str, running: str,
              worker: str, pid: int, queued_detail: str, durable: bool = False) -> BaseTask | None:
    """Lock the task if it is in `from_statuses`, mark it running, write its event(s), return the row.

    From `pending` (the worker beat the dispatcher's `queued` mark) it writes pending -> queued and
    queued -> running, so every history reads the same. Its commit does not wait for the disk: a start
    lost in a database crash is a delivery the worker cannot finish recording, so it runs again.
    """
    now = timezone.now()
    params = [str(task_uuid), *from_statuses, running, worker, pid, now, now, worker, now,
              pending, queued, queued_detail, pending, queued, running, pending, running]
    with connection.cursor() as cursor:
        run_prepared(cursor, _start_sql(len(from_statuses), durable), params)
        row = cursor.fetchone()
    return _load_task(row[:-1]) if row else None


@cache
def _converters() -> tuple:
    """Per concrete column: its Col and the converters the ORM's compiler would apply to it."""
    out = []
    for field in BaseTask._meta.concrete_fields:
        col = field.get_col(_TASK)
        out.append((col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))))
    return tuple(out)


def _load_task(values) -> BaseTask:
    conn = connections[DEFAULT_DB_ALIAS]
    converted = []
    for (col, converters), value in zip(_converters(), values, strict=True):
        for converter in converters:
            value = converter(value, col, conn)
        converted.append(value)
    return BaseTask.from_db(conn.alias, _ATTNAMES, converted)


_ATTNAMES = [f.attname for f in BaseTask._meta.concrete_fields]
