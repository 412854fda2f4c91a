"""The enumerations `/tasks/system/enums/` serves beyond core's own: each app registers its group from its
AppConfig.ready() with `register_enums`, so core lists them without importing the app."""

from django.db.models import Choices

_GROUPS: dict[str, dict[str, object]] = {}


def choices(enum: type[Choices]) -> list[dict]:
    """An enumeration as the API shows it: [{"value", "label"}, ...] in declaration order."""
    return [{"value": value, "label": str(label)} for value, label in enum.choices]


def register_enums(group: str, enums: dict[str, type[Choices] | dict | list]) -> None:
    """Serve `enums` under `group` (e.g. "scheduling"): a Choices class becomes a list of {value, label};
    a dict or list (a transition table) is served as given. Registering a group again replaces it."""
    _GROUPS[group] = {name: choices(value) if isinstance(value, type) and issubclass(value, Choices) else value
                      for name, value in enums.items()}


def registered_enums() -> dict[str, dict[str, object]]:
    return dict(_GROUPS)
