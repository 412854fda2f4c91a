"""Sections of the front-page dashboard (`/tasks/system/dashboard/`) that apps contribute with
`register_dashboard_section` from their AppConfig.ready(), so neither core nor the app serving the page
imports them.

A section registered with `gauge_help` is a flat {label: count} (a "total" key aside) and is also a
Prometheus gauge `megahub_<name>{status=<label>}`; its `read(brand=None)` then counts across brands."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DashboardSection:
    name: str
    read: Callable[..., Any]  # read(brand=...) -> the section's JSON-ready value
    serializer: Any = None  # a DRF serializer (instance) describing it in the OpenAPI schema
    gauge_help: str = ""  # set: also exposed to Prometheus (see the module)


_SECTIONS: dict[str, DashboardSection] = {}


def register_dashboard_section(name: str, read: Callable[..., Any], *, serializer=None, gauge_help: str = "") -> None:
    """Add (or replace) the key `name` of the dashboard, computed by `read(brand=...)`."""
    _SECTIONS[name] = DashboardSection(name, read, serializer, gauge_help)


def dashboard_sections() -> list[DashboardSection]:
    return list(_SECTIONS.values())


def read_dashboard_sections(*, brand) -> dict[str, Any]:
    """Every registered section of the brand, by name."""
    return {section.name: section.read(brand=brand) for section in _SECTIONS.values()}
