"""The one state machine of Alert: a transition table and one public guarded writer.

pending -> firing (the condition held for the rule's `for`), acknowledged (an operator took it),
resolved (the condition cleared, or an operator closed it). One open alert per rule and scope (a
partial unique constraint); a resolved alert is final, a new breach opens a new one.
"""

from django.utils import timezone

from .models import Alert
from .models import AlertState as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.FIRING, S.RESOLVED}),
    S.FIRING: frozenset({S.ACKNOWLEDGED, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset(),
}
_STAMPS = {S.FIRING: "fired_at", S.ACKNOWLEDGED: "acknowledged_at", S.RESOLVED: "resolved_at"}


def can_transition(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


def transition(alert: Alert, to_state: str, **fields) -> bool:
    """Move `alert` to `to_state` if allowed from the state it is in (guarded UPDATE); False otherwise."""
    if not can_transition(alert.state, to_state):
        return False
    stamp = _STAMPS.get(to_state)
    if stamp and stamp not in fields:
        fields[stamp] = timezone.now()
    if not Alert.objects.filter(pk=alert.pk, state=alert.state).update(state=to_state, **fields):
        return False
    alert.state = to_state
    for name, value in fields.items():
        setattr(alert, name, value)
    return True
