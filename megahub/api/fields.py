"""Serializer fields the apps share."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class LocalDateTimeField(serializers.DateTimeField):
    """A time in its own timezone, written with its offset (2026-12-03T11:00:00+01:00), not converted to UTC:
    validate-cron's local run times beside their UTC instants."""

    def to_representation(self, value):
        return None if value is None else value.isoformat()


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (parameters of a task type): anything else, null included, is a 400."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return super().to_internal_value(data)
