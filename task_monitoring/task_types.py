"""Demo task types that show what the worker measures: CPU time and a run's own memory peak."""

import time

from task_core.registry import task_type


@task_type(
    "demo.cpu",
    label="Burn CPU",
    description="Keeps one CPU busy for the given seconds (its CPU time is close to its wall time).",
    schema={"type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 600, "default": 1,
                                       "title": "Seconds"}},
            "additionalProperties": False},
    ui={"seconds": {"widget": "number", "suffix": "s"}},
    timeout_seconds=660, cost_per_cpu_hour_usd=0.10, cost_per_hour_usd=0.01,
)
def burn_cpu(ctx, seconds=1):
    deadline = time.process_time() + seconds
    loops = 0
    while time.process_time() < deadline:
        sum(i * i for i in range(1000))
        loops += 1
    ctx.metric("loops", loops)
    return {"cpu_seconds": seconds, "loops": loops}


MEGABYTE = 1024 * 1024


@task_type(
    "demo.memory",
    label="Hold memory",
    description="Allocates and touches the given megabytes, holds them one second, then frees them.",
    schema={"type": "object",
            "properties": {"megabytes": {"type": "integer", "minimum": 0, "maximum": 4096, "default": 100,
                                         "title": "Megabytes"}},
            "additionalProperties": False},
    ui={"megabytes": {"widget": "number", "suffix": "MB"}},
    timeout_seconds=120,
)
def hold_memory(ctx, megabytes=100):
    block = bytearray(megabytes * MEGABYTE)
    for offset in range(0, len(block), 4096):  # touch every page: resident, not only reserved
        block[offset] = 1
    time.sleep(1)
    held = len(block) // MEGABYTE
    del block
    return {"megabytes": held}
