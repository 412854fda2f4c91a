"""Recovery of a lost message, against the real broker (no worker consumes the queue). Lost runs and
worker restarts are covered end to end in test_live.py."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from task_core import services
from task_core.pipeline.recovery import resend_lost_messages

from .probe import purge, waiting


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
