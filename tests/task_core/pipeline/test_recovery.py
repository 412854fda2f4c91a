"""Recovery of a lost message, against the real broker (no worker consumes the queue). Lost runs and
worker restarts are covered end to end in test_live.py."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from task_core import services, state_machine
from task_core.models import BaseTask
from task_core.pipeline.publishing import publish
from task_core.pipeline.recovery import resend_lost_messages

from .probe import QUEUE, purge, waiting


@pytest.mark.django_db
def test_a_queued_task_whose_message_was_lost_is_sent_again_once(brand, operator, outbox_type,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task, _ = services.task_create(brand=brand, created_by=operator, task_type=outbox_type)
    task.refresh_from_db()
    assert task.status == "queued" and waiting() == 1
    later = timezone.now() + timedelta(seconds=settings.QUEUED_STALE_SECONDS + 1)

    assert resend_lost_messages(later) == 0  # its message is still waiting: nothing to do
    purge()  # the broker lost it (e.g. Redis restarted without persistence)
    assert resend_lost_messages(timezone.now()) == 0  # not stale yet
    assert resend_lost_messages(later) == 1
    assert waiting() == 1
    assert resend_lost_messages(later) == 0  # the new message waits: not sent a third time
    note = task.events.order_by("-id").first()
    assert "message was lost; sent again" in note.detail


@pytest.mark.redis  # the messages a queue holds are listed on Redis only
@pytest.mark.django_db
def test_a_task_created_queued_whose_message_was_never_sent_is_found_among_other_messages(brand, outbox_type):
    """The process that created it died between its commit and the send (task_create outside a
    transaction writes the task queued first): the reaper sends it, though its queue is not empty."""
    sent, _ = services.task_create(brand=brand, task_type=outbox_type)
    sent.refresh_from_db()  # inside the test's transaction: pending until its commit, like a sent one
    publish(sent)
    lost = state_machine.create(services.task_build(brand=brand, task_type=outbox_type),
                                then="queued", then_detail=f"sent to queue {QUEUE}")
    assert waiting() == 1
    later = timezone.now() + timedelta(seconds=settings.QUEUED_STALE_SECONDS + 1)
    BaseTask.objects.filter(pk=sent.pk).update(status="queued", queued_at=lost.queued_at)

    assert resend_lost_messages(later) == 1  # the lost one, not the one whose message waits
    assert waiting() == 2
    assert resend_lost_messages(later) == 0
    assert "message was lost; sent again" in lost.events.order_by("-id").first().detail
    assert not sent.events.filter(detail__contains="sent again").exists()
