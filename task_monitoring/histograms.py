"""Percentiles from the rollups' fixed histogram buckets (as Prometheus' histogram_quantile): linear
interpolation inside the bucket that holds the rank; the last, unbounded bucket answers the largest
duration seen."""

from .models import HISTOGRAM_BOUNDS_MS


def percentile(counts: list[int], q: float, observed_max: float | None = None) -> float | None:
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    cumulative = 0
    for index, count in enumerate(counts):
        if count and cumulative + count >= rank:
            lower = HISTOGRAM_BOUNDS_MS[index - 1] if index else 0
            if index >= len(HISTOGRAM_BOUNDS_MS):
                return float(observed_max if observed_max is not None else lower)
            upper = HISTOGRAM_BOUNDS_MS[index]
            if observed_max is not None:
                upper = min(upper, max(observed_max, lower))
            return round(lower + (upper - lower) * (rank - cumulative) / count, 1)
        cumulative += count
    return None
