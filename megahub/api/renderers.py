"""JSON rendering with the API's one timestamp format (megahub/timestamps.py) for datetimes outside serializers."""

from datetime import datetime

from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

from megahub.timestamps import utc_iso


class TimestampEncoder(JSONEncoder):
    def default(self, obj):
        if isinstance(obj, datetime) and obj.tzinfo is not None:
            return utc_iso(obj)
        return super().default(obj)


class JSONRenderer(renderers.JSONRenderer):
    encoder_class = TimestampEncoder
