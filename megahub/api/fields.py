"""Serializer fields the apps share.

JSON types are kept: DRF's fields take what they can convert (`"description": 0` as "0", `"enabled": 0` as
false, `"count": "5"` as 5), values the OpenAPI schema calls invalid. The fields here refuse them (400), so
the server takes what the schema says and nothing else; every serializer uses them (`ModelSerializer` maps
model fields to them). Only JSON is parsed (megahub.api.parsers), so no input arrives as text first.
"""

import re

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from megahub.timestamps import timezone_names


class CharField(serializers.CharField):
    """A JSON string; a number is a 400 (DRF's would take it as its digits)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class BooleanField(serializers.BooleanField):
    """true or false; 0, 1, "yes" ... are a 400."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class IntegerField(serializers.IntegerField):
    """A JSON integer (1.0 included, as JSON Schema counts it); a string or a boolean is a 400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float) or (isinstance(data, float)
                                                                             and not data.is_integer()):
            self.fail("invalid")
        return super().to_internal_value(data)


class FloatField(serializers.FloatField):
    """A JSON number; a string or a boolean is a 400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer with the strict fields above for the model's fields."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: CharField, models.TextField: CharField,
        models.BooleanField: BooleanField,
        models.IntegerField: IntegerField, models.BigIntegerField: IntegerField,
        models.SmallIntegerField: IntegerField, models.PositiveIntegerField: IntegerField,
        models.PositiveSmallIntegerField: IntegerField, models.PositiveBigIntegerField: IntegerField,
        models.FloatField: FloatField,
    }


class TimezoneField(CharField):
    """An IANA time zone name (Europe/Paris); its schema is the pattern of `timezone_names()`. The service
    checks the name (a 400 naming the field)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)


class TimezoneFieldExtension(OpenApiSerializerFieldExtension):
    """The names as a pattern rather than an enum: the same set, but a client generating boundary cases does
    not call the API once per time zone."""

    target_class = TimezoneField

    def map_serializer_field(self, auto_schema, direction):
        names = "|".join(re.escape(name) for name in sorted(timezone_names()))
        component = ResolvedComponent(name="Timezone", type=ResolvedComponent.SCHEMA, object="Timezone", schema={
            "type": "string", "pattern": f"^({names})$", "example": "Europe/Paris",
            "description": "An IANA time zone name (the tz database's), e.g. Europe/Paris."})
        auto_schema.registry.register_on_missing(component)
        return component.ref


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
