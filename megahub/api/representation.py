"""A serializer's representation without DRF's per-field, per-row overhead.

DRF's `Serializer.to_representation` walks `_readable_fields` and, for every field of every row, calls
`Field.get_attribute` (an ABC `isinstance(..., Mapping)` check, a callable check, error handling) and then
`to_representation`. On a list page that is most of the request's time (a task has 27 fields). A
`CompiledRepresentation` serializer builds, once per serializer instance (once per request for a
`many=True` list), one reader per field that does only what that field's own DRF code would do for the
values it can meet, and answers the same dict, in the same order, as DRF would
(tests/megahub/api/test_representation.py compares them).

Compiled: a single-attribute source of a `CharField`, `IntegerField`, `UUIDField` (hex_verbose),
`JSONField` (not binary), `DateTimeField` (aware values), `PrimaryKeyRelatedField` (pk only) and of a
nested plain `Serializer` / `ModelSerializer` (compiled in turn). Any other field (a method field, a
custom field, a dotted source) goes through DRF's own `get_attribute` and `to_representation`.
"""

from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import fields, relations, serializers
from rest_framework.fields import SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

SKIP = object()  # a field DRF would leave out of this row (SkipField)


def _datetime_converter(field: fields.DateTimeField) -> Callable | None:
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() == fields.ISO_8601 or hasattr(field, "timezone"):
        return None
    zone = field.default_timezone()
    if zone is None:
        return None

    def convert(value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(zone).strftime(output_format)
        return field.to_representation(value)  # naive, a string, a date: DRF's own handling
    return convert


def _converter(field) -> Callable:
    """What turns a non-null attribute into its representation; DRF's `to_representation` by default."""
    # By the representation method a field class has (subclasses that only validate input differently,
    # such as megahub.api.fields', keep DRF's representation).
    rep = type(field).to_representation
    if rep is fields.CharField.to_representation:  # Email, Slug and URL fields too
        return str
    if rep is fields.IntegerField.to_representation:
        return int
    if rep is fields.UUIDField.to_representation and field.uuid_format == "hex_verbose":
        return str
    if rep is fields.JSONField.to_representation and not field.binary:
        return lambda value: value
    if rep is fields.DateTimeField.to_representation:
        return _datetime_converter(field) or field.to_representation
    if isinstance(field, serializers.Serializer) and _compilable(field):
        return compile_representation(field)
    return field.to_representation


def _compilable(serializer) -> bool:
    """A plain (Model)Serializer whose representation is DRF's."""
    return type(serializer).to_representation in (serializers.Serializer.to_representation,
                                                  CompiledRepresentation.to_representation)


def _drf_reader(field) -> Callable:
    """One field exactly as DRF's Serializer.to_representation handles it."""
    def read(instance):
        try:
            attribute = field.get_attribute(instance)
        except SkipField:
            return SKIP
        check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        return None if check_for_none is None else field.to_representation(attribute)
    return read


def _field_reader(field) -> Callable:
    drf_reader = _drf_reader(field)
    attrs = field.source_attrs
    if len(attrs) != 1:  # "*" (the whole object) or a dotted path: DRF's handling
        return drf_reader
    attr = attrs[0]
    if isinstance(field, relations.PrimaryKeyRelatedField):
        if field.pk_field is not None or not field.use_pk_only_optimization():
            return drf_reader
        convert = None
    else:
        convert = _converter(field)

    def reader(instance):
        try:
            if convert is None:
                return instance.serializable_value(attr)
            value = getattr(instance, attr)
        except ObjectDoesNotExist:  # an absent reverse one-to-one reads as null, as in DRF
            return None
        except (AttributeError, KeyError):  # a mapping, a missing attribute (default, SkipField): DRF's way
            return drf_reader(instance)
        if callable(value) and is_simple_callable(value):
            return drf_reader(instance)
        return None if value is None else convert(value)
    return reader


def compile_representation(serializer) -> Callable:
    """A function instance -> the dict `serializer.to_representation(instance)` would return."""
    readers = [(field.field_name, _field_reader(field)) for field in serializer._readable_fields]

    def represent(instance):
        row = {}
        for name, reader in readers:
            value = reader(instance)
            if value is not SKIP:
                row[name] = value
        return row
    return represent


class CompiledRepresentation:
    """Mixin of a (Model)Serializer: its representation through `compile_representation`, built on first
    use and kept by the serializer instance (for a list, the child serializer shared by every row).

    `share_compiled = True`: kept by the class instead, for every request (building a ModelSerializer's
    fields costs milliseconds per request), until its fields change. Only for a serializer whose fields
    never read the serializer's `context` (the request): the compiled fields are those of the first
    instance."""

    share_compiled = False
    _shared_compiled: dict = {}

    def to_representation(self, instance):
        represent = self.__dict__.get("_compiled_representation")
        if represent is None:
            represent = self.__dict__["_compiled_representation"] = self._compiled()
        return represent(instance)

    def _compiled(self) -> Callable:
        if not self.share_compiled:
            return compile_representation(self)
        cls = type(self)
        meta = getattr(cls, "Meta", None)
        key = (cls, tuple(getattr(meta, "fields", ()) or ()),
               tuple((name, id(field)) for name, field in cls._declared_fields.items()))
        represent = self._shared_compiled.get(key)
        if represent is None:  # from an instance of its own: not one holding a request's rows and context
            represent = self._shared_compiled[key] = compile_representation(cls())
        return represent
