"""Shared plumbing of the benchmark scripts: environment defaults, Django setup, worker processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
LOG_DIR = ROOT / "var" / "bench"

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/megahub_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"


def set_env_defaults() -> None:
    """PostgreSQL `megahub_bench` and Redis DB 6 unless the caller says otherwise."""
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def django_setup() -> None:
    set_env_defaults()
    import django

    django.setup()


def machine() -> str:
    import platform

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores{f' ({cpu})' if cpu else ''}, Python {platform.python_version()}"


def speed_probe() -> str:
    """How fast this machine's CPU is right now: a fixed pure-Python loop, best and worst of 5, ms. A
    shared VM's speed drifts within minutes; read a run's figures against its probes."""
    import time

    times = []
    for _ in range(5):
        start, total = time.perf_counter(), 0
        for i in range(1_000_000):
            total += i * i
        times.append((time.perf_counter() - start) * 1000)
    return f"speed probe {min(times):.0f}-{max(times):.0f} ms"


class Worker:
    """A `celery worker` subprocess; `ready()` waits until it answers a ping (boot is never timed)."""

    def __init__(self, app: str, name: str, queue: str, concurrency: int, env: dict | None = None,
                 events: bool = True):
        self.hostname = f"{name}@bench"
        self.args = [CELERY, "-A", app, "worker", "-l", "WARNING", "-P", "prefork", "-c", str(concurrency),
                     "-n", self.hostname, "-Q", queue, *(["-E"] if events else []),
                     "--without-gossip", "--without-mingle"]
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, control_app, timeout: float = 60) -> "Worker":
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()[-3000:]}")
            try:
                if control_app.control.ping(destination=[self.hostname], timeout=0.5):
                    return self
            except Exception:  # noqa: BLE001 - broker not answering yet
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


CPU_GROUPS = ("producer", "worker", "postgres", "redis", "other")


def _proc_stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of /proc/<pid>/stat, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()


def _cpu_seconds(fields: list[str]) -> float:
    """User + system CPU seconds from the fields `_proc_stat` returns."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds a process on this host has used so far, or None when it is not on this host."""
    stat = _proc_stat(pid)
    return None if stat is None else _cpu_seconds(stat[1])


def cpu_snapshot(worker_pgids: tuple[int, ...] = ()) -> dict[int, tuple[str, float]]:
    """Per process on this host: its group and the CPU seconds (user + system) it has used so far.

    Groups: this process (the producer), the benchmark's worker process groups, PostgreSQL, Redis,
    everything else."""
    me = os.getpid()
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (stat := _proc_stat(entry.name)) is None:
            continue
        comm, rest = stat
        pid, pgid = int(entry.name), int(rest[2])
        if pid == me:
            group = "producer"
        elif pgid in worker_pgids:
            group = "worker"
        elif comm.startswith(("postgres", "postmaster")):
            group = "postgres"
        elif comm.startswith("redis"):
            group = "redis"
        else:
            group = "other"
        out[pid] = (group, _cpu_seconds(rest))
    return out


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per group between two snapshots. A process that started in between counts from
    zero; one that ended in between is missed (the workers and their connections live across a run)."""
    used = dict.fromkeys(CPU_GROUPS, 0.0)
    for pid, (group, cpu) in after.items():
        start = before.get(pid)
        used[group] += cpu - (start[1] if start and start[0] == group else 0.0)
    return used


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile of `values`, interpolated between the two nearest ranks."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def wait_until(predicate, timeout: float, interval: float, what: str):
    """Poll `predicate()` until truthy; returns (value, monotonic time it became truthy)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        now = time.monotonic()
        if value:
            return value, now
        if now > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def delete_brand_tasks(brand) -> None:
    """Delete a benchmark brand's tasks and their events (other apps' rows cascade with the ORM)."""
    from django.db import DatabaseError, connection, transaction

    from task_core.models import BaseTask, TaskEvent

    try:
        BaseTask.objects.filter(brand=brand).delete()
    except DatabaseError:  # another app's model without its table yet (a work tree mid-change)
        with transaction.atomic(), connection.cursor() as cur:
            tasks, events = BaseTask._meta.db_table, TaskEvent._meta.db_table
            cur.execute(f"DELETE FROM {events} WHERE task_id IN (SELECT id FROM {tasks} WHERE brand_id = %s)",
                        [brand.pk])
            cur.execute(f"DELETE FROM {tasks} WHERE brand_id = %s", [brand.pk])
