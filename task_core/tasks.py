"""System Celery tasks fired by Beat (see CELERY_BEAT_SCHEDULE). Thin: each calls one service."""

from celery import shared_task
from django.core.management import call_command

from . import status_counts
from .pipeline.publishing import dispatch_pending as outbox_sweep
from .pipeline.recovery import reap_stuck


@shared_task(name="megahub.dispatch_pending", ignore_result=True)
def dispatch_pending():
    return outbox_sweep()


@shared_task(name="megahub.reap_stuck_tasks", ignore_result=True)
def reap_stuck_tasks():
    return reap_stuck()


@shared_task(name="megahub.flush_expired_tokens", ignore_result=True)
def flush_expired_tokens():
    """Delete expired refresh tokens and their blacklist entries (simplejwt's flushexpiredtokens)."""
    call_command("flushexpiredtokens", verbosity=0)


@shared_task(name="megahub.compact_status_counts", ignore_result=True)
def compact_status_counts():
    return status_counts.compact()
