"""The worker side's pure parts. Runs through real workers are in test_live.py."""

import datetime
import decimal
import uuid

import pytest

from task_core.pipeline.worker import _storable


def test_results_are_stored_as_json_with_dates_and_decimals_as_text():
    day, uid = datetime.date(2026, 1, 2), uuid.UUID(int=1)
    assert _storable({"day": day, "amount": decimal.Decimal("1.50"), "id": uid}) == {
        "day": "2026-01-02", "amount": "1.50", "id": str(uid)}
    assert _storable(7) == 7 and _storable("done") == "done"
    assert _storable(("a", 1)) == {"value": ["a", 1]}
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        _storable({"handle": object()})
