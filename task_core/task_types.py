"""Task types shipped with task_core: the SEO analysis of the reference workflow, its daily report, and
demo types."""

import time
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from .registry import task_type
from .selectors import seo_analysis_report


@task_type(
    "seo_keyword_analysis",
    label="SEO keyword analysis",
    description="Analyse a set of keywords and generate insights.",
    schema={
        "type": "object",
        "properties": {
            "keyword_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
                            "maxItems": 10000, "title": "Keywords", "description": "Ids of the keywords to analyse."},
            "analysis_depth": {"type": "string", "enum": ["quick", "full"], "default": "quick",
                               "title": "Depth", "description": "quick: volume only; full: also SERP and gaps."},
        },
        "required": ["keyword_ids"],
        "additionalProperties": False,
    },
    ui={"keyword_ids": {"widget": "id-list", "placeholder": "1, 2, 3"},
        "analysis_depth": {"widget": "radio"}},
    max_retries=3, retry_backoff=5, timeout_seconds=1800, cost_per_hour_usd=0.12,
)
def seo_keyword_analysis(ctx, keyword_ids, analysis_depth="quick"):
    total = len(keyword_ids)
    per_keyword = 0.02 if analysis_depth == "full" else 0.005
    insights = 0
    step = max(1, total // 20)
    for index, keyword_id in enumerate(keyword_ids, start=1):
        time.sleep(per_keyword)
        # A full analysis finds an insight for roughly one keyword in eleven; quick for one in thirty.
        insights += keyword_id % (11 if analysis_depth == "full" else 30) == 0
        if index % step == 0 or index == total:
            ctx.progress(100 * index / total, f"{index}/{total} keywords")
    return {"keywords_processed": total, "insights_generated": insights, "analysis_depth": analysis_depth}


@task_type(
    "daily_seo_report",
    label="Daily SEO report",
    description="Sums up the brand's recent SEO keyword analyses: how many ran and how they ended, keywords "
                "processed, insights generated.",
    schema={
        "type": "object",
        "properties": {
            "period_hours": {"type": "integer", "minimum": 1, "maximum": 24 * 31, "default": 24,
                             "title": "Period (hours)", "description": "Analyses created in the last N hours."},
        },
        "additionalProperties": False,
    },
    ui={"period_hours": {"widget": "number", "suffix": "h"}},
    max_retries=2, retry_backoff=5, timeout_seconds=300,
)
def daily_seo_report(ctx, period_hours=24):
    until = timezone.now()
    report = seo_analysis_report(brand=ctx.brand, since=until - timedelta(hours=period_hours), until=until)
    ctx.progress(100, f"{report['analyses']['total']} analyses summed up")
    return report


@task_type(
    "demo.sleep",
    label="Sleep",
    description="Sleeps for the given seconds, reporting progress every step.",
    schema={
        "type": "object",
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": 3600, "default": 5, "title": "Seconds"},
            "steps": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10, "title": "Progress steps"},
        },
        "additionalProperties": False,
    },
    ui={"seconds": {"widget": "number", "suffix": "s"}},
    timeout_seconds=600,
)
def sleep(ctx, seconds=5, steps=10):
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        ctx.progress(100 * step / steps, f"slept {seconds * step / steps:.1f}s of {seconds}s")
    return {"slept_seconds": seconds}


@task_type(
    "demo.echo",
    label="Echo",
    description="Returns its message; a no-op for checks and benchmarks.",
    schema={
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 10000, "default": "", "title": "Message"}},
        "additionalProperties": True,
    },
    ui={"message": {"widget": "textarea"}},
    timeout_seconds=60,
)
def echo(ctx, **params):
    return {"echo": params}


class DemoFailure(RuntimeError):
    pass


@task_type(
    "demo.fail",
    label="Always fail",
    description="Always raises, to show retries with backoff and the failed state.",
    schema={
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 1000, "default": "demo failure"}},
        "additionalProperties": False,
    },
    max_retries=2, retry_backoff=1, timeout_seconds=60,
)
def fail(ctx, message="demo failure"):
    raise DemoFailure(message)


@task_type(
    "demo.hang",
    label="Hang",
    description="Keeps running past its soft time limit, to show the hard time limit stopping it.",
    schema={
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 3600, "default": 60,
                                   "title": "Seconds"}},
        "additionalProperties": False,
    },
    timeout_seconds=5,
)
def hang(ctx, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            ctx.progress(50, "ignored the soft time limit")
    return {"hung_seconds": seconds}
