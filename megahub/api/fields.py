"""Serializer fields the apps share."""

from rest_framework import serializers


class LocalDateTimeField(serializers.DateTimeField):
    """A time in its own timezone, written with its offset (2026-12-03T11:00:00+01:00), not converted to UTC:
    validate-cron's local run times beside their UTC instants."""

    def to_representation(self, value):
        return None if value is None else value.isoformat()
