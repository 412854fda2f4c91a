"""A brand's tasks by status, without counting its tasks.

Every status change appends a TaskStatusDelta row (brand, from, to, n) in the statement that makes it
(task_core.pg_writes, or the ORM transaction of orm_writes), so a count moves exactly when a transition
commits. Appending never waits for another transition: one counter row per brand and status, updated
in place, would make every transition of a brand wait for the previous one's commit.

`compact()` (Beat, every few seconds) folds the deltas into TaskStatusCount, atomically; a read sums both
in one statement, so it sees the state before or after a compaction, never half of one.
`rebuild()` recounts from the tasks (after rows were written outside the state machine, e.g. bulk SQL).
"""

from django.db import connection, transaction

from .choices import TaskStatus
from .models import BaseTask, TaskStatusCount, TaskStatusDelta

_COUNT = TaskStatusCount._meta.db_table
_DELTA = TaskStatusDelta._meta.db_table
_TASK = BaseTask._meta.db_table
_LOCK_KEY = 7_150_015  # pg_advisory_xact_lock: one compaction or rebuild at a time

_READ_SQL = f"""
    SELECT status, SUM(n) FROM (
        SELECT status, count AS n FROM {_COUNT} WHERE brand_id = %s
        UNION ALL SELECT to_status, n FROM {_DELTA} WHERE brand_id = %s
        UNION ALL SELECT from_status, -n FROM {_DELTA} WHERE brand_id = %s AND from_status <> ''
    ) AS c GROUP BY status"""

# PostgreSQL: the deltas visible to this statement are deleted and added in one statement. A transition
# that commits meanwhile keeps its row for the next compaction; a concurrent compaction skips the rows
# this one deleted.
_COMPACT_PG = f"""
    WITH d AS (DELETE FROM {_DELTA} RETURNING brand_id, from_status, to_status, n),
    s AS (
        SELECT brand_id, status, SUM(n) AS n FROM (
            SELECT brand_id, to_status AS status, n FROM d
            UNION ALL SELECT brand_id, from_status, -n FROM d WHERE from_status <> ''
        ) AS x GROUP BY brand_id, status
    )
    INSERT INTO {_COUNT} (brand_id, status, count) SELECT brand_id, status, n FROM s ORDER BY brand_id, status
    ON CONFLICT (brand_id, status) DO UPDATE SET count = {_COUNT}.count + EXCLUDED.count"""


def status_counts(*, brand) -> dict[str, int]:
    """Every status (zeros included) -> the brand's tasks in it. One query."""
    counts = dict.fromkeys(TaskStatus.values, 0)
    with connection.cursor() as cursor:
        cursor.execute(_READ_SQL, [brand.pk, brand.pk, brand.pk])
        counts.update({status: int(n) for status, n in cursor.fetchall() if status in counts})
    return counts


def compact() -> int:
    """Fold the deltas into the counts; returns how many (brand, status) counts it changed."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
                cursor.execute(_COMPACT_PG)
                return cursor.rowcount
        # Elsewhere (SQLite: one writer at a time, ids given in commit order): up to a watermark.
        top = TaskStatusDelta.objects.order_by("-id").values_list("id", flat=True).first()
        if top is None:
            return 0
        totals: dict[tuple[int, str], int] = {}
        rows = TaskStatusDelta.objects.filter(id__lte=top).values_list("brand_id", "from_status", "to_status", "n")
        for brand_id, src, dst, n in rows:
            totals[brand_id, dst] = totals.get((brand_id, dst), 0) + n
            if src:
                totals[brand_id, src] = totals.get((brand_id, src), 0) - n
        TaskStatusDelta.objects.filter(id__lte=top).delete()
        for (brand_id, status), n in totals.items():
            row, _ = TaskStatusCount.objects.select_for_update().get_or_create(brand_id=brand_id, status=status)
            TaskStatusCount.objects.filter(pk=row.pk).update(count=row.count + n)
        return len(totals)


def rebuild() -> None:
    """Recount every brand from its tasks. On PostgreSQL the tasks are locked against writes meanwhile
    (SHARE mode: reads go on), so no transition falls between the count and the reset of the deltas."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            cursor.execute(f"LOCK TABLE {_TASK} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {_DELTA}")
        cursor.execute(f"DELETE FROM {_COUNT}")
        cursor.execute(f"INSERT INTO {_COUNT} (brand_id, status, count) "
                       f"SELECT brand_id, status, COUNT(*) FROM {_TASK} GROUP BY brand_id, status")
