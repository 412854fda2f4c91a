"""What a pool process measures around one run: wall time, CPU time, and the run's own memory peak.

Linux keeps a process's peak resident memory (VmHWM) for its whole life; writing "5" to
/proc/self/clear_refs resets it to the current resident size, so VmHWM read after the run is the peak
of this run, not of an earlier, larger task on the same pool process. Where that file cannot be written
(another OS, a locked-down /proc) the figure is `ru_maxrss`, the process's high-water mark, and the
metrics say so (`memory_is_run_peak = False`).

Both files stay open in the pool process (a run costs a write and a pread, no open or close: about 15 µs
of CPU for a run's capture instead of 35). "self" is resolved when a file is opened, so they are opened in
the process that measures, and again after a fork.
"""

import os
import resource
import sys
import time
from dataclasses import dataclass

_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"
# ru_maxrss is in kilobytes on Linux, bytes on macOS.
_MAXRSS_PER_MB = 1024 * 1024 if sys.platform == "darwin" else 1024
_can_reset_peak: bool | None = None  # learnt on the first run of the process
# (pid that opened them, clear_refs fd, status fd) of this process; None: not opened yet.
_files: tuple[int, int, int] | None = None


def _open_files() -> tuple[int, int, int]:
    """The two files, opened by this process (raises OSError where they cannot be)."""
    global _files
    pid = os.getpid()
    if _files is None or _files[0] != pid:
        # A forked child inherits its parent's descriptors, which name the parent: leave those to it.
        clear_refs = os.open(_CLEAR_REFS, os.O_WRONLY | os.O_CLOEXEC)
        try:
            status = os.open(_STATUS, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(clear_refs)
            raise
        _files = (pid, clear_refs, status)
    return _files


@dataclass(slots=True)
class RunCapture:
    wall_start_ns: int
    cpu_start_ns: int
    peak_reset: bool


@dataclass(slots=True)
class RunFigures:
    execution_time_ms: int
    cpu_time_ms: int
    memory_usage_mb: float | None
    memory_is_run_peak: bool


def _reset_peak() -> bool:
    global _can_reset_peak
    if _can_reset_peak is False:
        return False
    try:
        os.write(_open_files()[1], b"5")
    except OSError:
        _can_reset_peak = False
        return False
    _can_reset_peak = True
    return True


def _vm_hwm_mb() -> float | None:
    try:
        data = os.pread(_open_files()[2], 8192, 0)
    except OSError:
        return None
    start = data.find(b"VmHWM:")
    if start < 0:
        return None
    return int(data[start + 6:data.index(b"kB", start)]) / 1024


def begin() -> RunCapture:
    """Call just before the task function runs."""
    peak_reset = _reset_peak()
    return RunCapture(time.perf_counter_ns(), time.process_time_ns(), peak_reset)


def end(capture: RunCapture) -> RunFigures:
    """Call when the run ended (its outcome is being recorded)."""
    wall_ns = time.perf_counter_ns() - capture.wall_start_ns
    cpu_ns = time.process_time_ns() - capture.cpu_start_ns
    memory = _vm_hwm_mb() if capture.peak_reset else None
    is_peak = memory is not None
    if memory is None:
        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _MAXRSS_PER_MB
    return RunFigures(wall_ns // 1_000_000, cpu_ns // 1_000_000, round(memory, 1), is_peak)
