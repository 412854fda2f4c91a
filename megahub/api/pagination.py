"""Page-number pagination that refuses what it cannot honour: a `page` or `page_size` that is not a whole number
in range is a 400 naming it (DRF's own falls back to the defaults in silence), and the schema says the range."""

from rest_framework.pagination import PageNumberPagination

from .exceptions import validation_error


def bounded_int(raw: str, name: str, minimum: int, maximum: int | None = None) -> int:
    """`raw` as an int within [minimum, maximum], or a 400 VALIDATION_ERROR naming the parameter."""
    upper = f" and at most {maximum}" if maximum is not None else ""
    message = f"A whole number of at least {minimum}{upper}."
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise validation_error(f"Invalid {name}.", name) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise validation_error(f"Invalid {name}.", field_errors={name: [message]})
    return value


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    last_page_strings = ()  # `page` is a number, as the schema says

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        return self.page_size if raw is None else bounded_int(raw, self.page_size_query_param, 1, self.max_page_size)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        return 1 if raw is None else bounded_int(raw, self.page_query_param, 1)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        bounds = {self.page_query_param: {"minimum": 1},
                  self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size}}
        for param in params:
            param["schema"].update(bounds.get(param["name"], {}))
        return params
