"""The cost of a run, and the flags that mark a costly one.

    cost_usd = cpu_seconds  x (type's cost_per_cpu_hour_usd + queue's cpu_hour_usd) / 3600
             + wall_seconds x (type's cost_per_hour_usd     + queue's wall_hour_usd) / 3600

The type's rates are declared with `@task_type(cost_per_hour_usd=..., cost_per_cpu_hour_usd=...)`, the
queue's in MONITORING_QUEUE_COST_RATES (what a worker host of that queue costs). Rounded to 1e-6 USD.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from task_core.registry import UnknownTaskType, get_task_type

MICRO_USD = Decimal("0.000001")


def run_cost(*, task_type: str, queue: str, cpu_ms: int | None, wall_ms: int | None) -> Decimal | None:
    if wall_ms is None:
        return None
    try:
        ttype = get_task_type(task_type)
        type_cpu, type_wall = ttype.cost_per_cpu_hour_usd, ttype.cost_per_hour_usd
    except UnknownTaskType:
        type_cpu = type_wall = 0.0
    queue_rates = settings.MONITORING_QUEUE_COST_RATES.get(queue, {})
    cpu_rate = Decimal(str(type_cpu)) + Decimal(str(queue_rates.get("cpu_hour_usd", 0)))
    wall_rate = Decimal(str(type_wall)) + Decimal(str(queue_rates.get("wall_hour_usd", 0)))
    cost = (Decimal(cpu_ms or 0) * cpu_rate + Decimal(wall_ms) * wall_rate) / Decimal(3_600_000)
    return cost.quantize(MICRO_USD, rounding=ROUND_HALF_UP)


def thresholds(task_type: str) -> dict:
    """high_memory_mb, slow_ms, expensive_usd for a type: its own (MONITORING_TYPE_THRESHOLDS) or global."""
    own = settings.MONITORING_TYPE_THRESHOLDS.get(task_type, {})
    return {"high_memory_mb": float(own.get("high_memory_mb", settings.MONITORING_HIGH_MEMORY_MB)),
            "slow_ms": float(own.get("slow_ms", settings.MONITORING_SLOW_MS)),
            "expensive_usd": float(own.get("expensive_usd", settings.MONITORING_EXPENSIVE_USD))}


def flags(*, task_type: str, memory_mb: float | None, wall_ms: int | None, cost: Decimal | None) -> str:
    limits = thresholds(task_type)
    out = []
    if memory_mb is not None and memory_mb >= limits["high_memory_mb"]:
        out.append("high_memory")
    if wall_ms is not None and wall_ms >= limits["slow_ms"]:
        out.append("slow")
    if cost is not None and float(cost) >= limits["expensive_usd"]:
        out.append("expensive")
    return " ".join(out)
