"""Cached reads of the API (the Chinese reference's cache strategy): an answer is kept in Django's cache
under a key that carries its brand's *generation*, and every write that changes such an answer gives the
brand a new generation (`invalidate`), whoever writes: the web, a worker, Beat. The old entries are then
never read again and expire by themselves (`READ_CACHE_SECONDS`). What each task transition changes (its
brand's counts by status) is never cached: it is read live from counters, so transitions pay no renewal.

- A new generation is written when the write happens and again when its transaction commits, so a read
  that follows the write (its HTTP answer, or a worker's finished task) computes the new answer, and an
  answer computed from the rows before the commit is never read again. A transaction renews its brands
  once more when it commits, however many writes it made.
- A write that does not know its brands (a bulk mark by ids) renews the generation of every brand.
- A cache that cannot be reached is skipped, never an error: reads are computed. A renewal lost while it
  was down can leave an old answer readable for at most READ_CACHE_SECONDS once it is back.
"""

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger("megahub.cache")

EVERY_BRAND = "all"
_MISSING = object()


def _generation_key(scope) -> str:
    return f"megahub:generation:{scope}"


class _Renewal:
    """The on-commit callback of one transaction: renews the generations of the brands it wrote."""

    def __init__(self, scopes: set):
        self.scopes = scopes

    def __call__(self):
        _renew(self.scopes)


def _renew(scopes: set) -> None:
    token = uuid.uuid4().hex
    try:
        cache.set_many({_generation_key(scope): token for scope in scopes}, timeout=None)
    except Exception:  # noqa: BLE001 - an unreachable cache must never fail a write
        logger.warning("read cache unreachable: generations of %s not renewed", sorted(map(str, scopes)),
                       exc_info=True)


def invalidate(brand_ids: Iterable[int] | None = None) -> None:
    """New generations for these brands (every brand when `brand_ids` is None): now, and once more when
    the current transaction, if any, commits (a read inside the transaction sees its writes; an answer
    computed from the rows before the commit is then never read again)."""
    scopes = {EVERY_BRAND} if brand_ids is None else {int(b) for b in brand_ids if b is not None}
    if not scopes:
        return
    _renew(scopes)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return
    pending = next((func for _savepoints, func, _robust in connection.run_on_commit
                    if isinstance(func, _Renewal)), None)
    if pending:  # one renewal on commit per transaction
        pending.scopes |= scopes
    else:
        transaction.on_commit(_Renewal(scopes), robust=True)


def _key(name: str, brand_id: int, variant: str) -> str:
    scopes = [_generation_key(brand_id), _generation_key(EVERY_BRAND)]
    found = cache.get_many(scopes)
    if len(found) < len(scopes):  # first use, or evicted: start a generation (another process may race us)
        token = uuid.uuid4().hex
        for key in scopes:
            if key not in found:
                cache.add(key, token, timeout=None)
        found = cache.get_many(scopes)
    digest = hashlib.sha256(variant.encode()).hexdigest()[:24]
    return f"megahub:read:{name}:{brand_id}:{found.get(scopes[0], '')}:{found.get(scopes[1], '')}:{digest}"


def cached_read(name: str, *, brand_id: int, compute: Callable[[], object], variant: str = "") -> object:
    """The answer `compute()` gives, from the cache when this brand's generation has it. `variant` tells
    answers of one read apart (the query string). An exception of `compute` is raised and not cached."""
    if settings.READ_CACHE_SECONDS <= 0:
        return compute()
    try:
        key = _key(name, brand_id, variant)
        value = cache.get(key, _MISSING)
    except Exception:  # noqa: BLE001
        logger.warning("read cache unreachable: %s computed", name, exc_info=True)
        return compute()
    if value is not _MISSING:
        return value
    value = compute()
    try:
        cache.set(key, value, settings.READ_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("read cache unreachable: %s not stored", name, exc_info=True)
    return value
