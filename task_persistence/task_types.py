"""Task types shipped with task_persistence: iterable demo jobs that resume from their checkpoints."""

import time

from django.db.models import F

from .jobs import IterableJob, iterable_task_type
from .models import DemoItemCounter


@iterable_task_type(
    "demo.iterate",
    label="Iterate (resumable)",
    description="Processes `items` items, `seconds_per_item` each, checkpointing as it goes; resumes after a "
                "crash or a shutdown. result_data: items_done, and item_executions (redone items included).",
    schema={
        "type": "object",
        "properties": {
            "items": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 100, "title": "Items"},
            "seconds_per_item": {"type": "number", "minimum": 0, "maximum": 60, "default": 0.1,
                                 "title": "Seconds per item"},
            "checkpoint_every": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 1,
                                 "title": "Checkpoint every N items", "description": "0: only at a shutdown."},
        },
        "additionalProperties": False,
    },
    ui={"seconds_per_item": {"widget": "number", "suffix": "s"}},
    timeout_seconds=3600,
)
class DemoIterate(IterableJob):
    """Counts each item's execution in the database, as real per-item work would write its result."""

    checkpoint_every = 1

    def total(self, items, **params):
        return items

    def enumerate(self, ctx, cursor, items, **params):
        for index in range(0 if cursor is None else cursor + 1, items):
            yield index, index

    def process(self, ctx, item, acc, seconds_per_item=0.1, **params):
        if seconds_per_item:
            time.sleep(seconds_per_item)
        if not DemoItemCounter.objects.filter(task_id=ctx.task.pk).update(executions=F("executions") + 1):
            DemoItemCounter.objects.create(task_id=ctx.task.pk, executions=1)

    def finish(self, ctx, acc, items_done, **params):
        counter = DemoItemCounter.objects.filter(task_id=ctx.task.pk).values_list("executions", flat=True).first()
        return {"items_done": items_done, "item_executions": counter or 0}


@iterable_task_type(
    "seo_bulk_keyword_refresh",
    label="SEO bulk keyword refresh",
    description="Refreshes the ranking data of many keywords; resumes where it stopped after an interruption.",
    schema={
        "type": "object",
        "properties": {
            "keyword_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
                            "maxItems": 100000, "title": "Keywords", "description": "Ids of the keywords to refresh."},
        },
        "required": ["keyword_ids"],
        "additionalProperties": False,
    },
    ui={"keyword_ids": {"widget": "id-list", "placeholder": "1, 2, 3"}},
    timeout_seconds=7200, cost_per_hour_usd=0.08,
)
class SeoBulkKeywordRefresh(IterableJob):
    """The cursor is the position in keyword_ids; the running totals travel with each checkpoint."""

    checkpoint_every = 50
    checkpoint_seconds = 5.0

    def total(self, keyword_ids, **params):
        return len(keyword_ids)

    def enumerate(self, ctx, cursor, keyword_ids, **params):
        for index in range(0 if cursor is None else cursor + 1, len(keyword_ids)):
            yield index, keyword_ids[index]

    def process(self, ctx, item, acc, **params):
        time.sleep(0.005)  # the ranking provider's call
        acc["refreshed"] = acc.get("refreshed", 0) + 1
        # One keyword in seven moves in the rankings (deterministic, so a redone item changes nothing).
        acc["rank_changes"] = acc.get("rank_changes", 0) + (item % 7 == 0)

    def finish(self, ctx, acc, items_done, **params):
        return {"keywords_refreshed": acc.get("refreshed", 0), "rank_changes": acc.get("rank_changes", 0)}
