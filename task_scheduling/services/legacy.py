"""Removal of the leftovers `selectors.legacy` finds; a dry run (the default) only reports them."""

from django.db import transaction

from .. import beat_sync
from ..selectors.legacy import expired_celery_results, legacy_beat_entries


@transaction.atomic
def legacy_cleanup(*, brand, dry_run: bool = True) -> dict:
    entries = legacy_beat_entries(brand=brand)
    results, expires_after = expired_celery_results()
    report = {"dry_run": dry_run, "beat_entries": entries, "celery_results_expired": results.count(),
              "celery_results_expire_after_seconds": int(expires_after),
              "beat_entries_removed": 0, "celery_results_removed": 0}
    if not dry_run:
        report["beat_entries_removed"] = beat_sync.beat_entries_delete(names=[e["name"] for e in entries])
        report["celery_results_removed"] = results._raw_delete(results.db)
    return report
