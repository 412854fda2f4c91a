"""Logging filters of the project's LOGGING setting."""

import logging

from django.core.exceptions import PermissionDenied


class QuietForbidden(logging.Filter):
    """An ordinary 403 (Django's "Forbidden (Permission denied)" warning) is logged as its one line,
    without the traceback of the PermissionDenied that produced it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
