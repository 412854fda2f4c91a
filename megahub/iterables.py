"""Small helpers over sequences shared by every app."""

from collections.abc import Iterator, Sequence

# Rows per statement in bulk writes: keeps parameter lists and lock sets bounded.
DEFAULT_CHUNK = 1000


def chunked(items: Sequence, size: int = DEFAULT_CHUNK) -> Iterator[Sequence]:
    """Consecutive slices of `items`, each at most `size` long."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
