"""OpenAPI generation: every operation documents the error shape and, under /tasks/, the brand header."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes
from rest_framework import serializers

from .scoping import BrandAccess


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    error_code = serializers.CharField(help_text="Stable machine-readable code, e.g. TASK_NOT_FOUND.")
    field_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (dotted path for nested fields).",
    )


BRAND_HEADER_PARAMETER = OpenApiParameter(
    name="X-Brand-ID",
    type=OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    required=True,
    description="The brand this call acts on; the caller must be a member of it.",
)

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (VALIDATION_ERROR with field_errors, BRAND_REQUIRED, ...)",
    "401": "Missing or invalid token",
    "403": "Not a member of the brand, or the role is insufficient",
    "404": "Not found in this brand",
    "405": "Method not allowed",
    "409": "Not allowed in the object's current state (INVALID_TRANSITION)",
    "429": "Throttled",
    "500": "Internal error",
    "503": "A required service is unavailable (DATABASE_UNAVAILABLE, BROKER_UNAVAILABLE)",
}


class MegahubAutoSchema(AutoSchema):
    def _is_brand_scoped(self) -> bool:
        return any(isinstance(p, BrandAccess) for p in self.view.get_permissions())

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if self._is_brand_scoped():
            params.append(BRAND_HEADER_PARAMETER)
        return params

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error_schema = self._get_response_for_code(ErrorSerializer, "400")
        codes = ["400", "401", "404", "405", "429", "500", "503"]  # 503: any call needs the database
        if self._is_brand_scoped():
            codes += ["403", "409"]
        for code in codes:
            if code not in responses:
                body = dict(error_schema)
                body["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = body
        return responses
