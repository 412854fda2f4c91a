"""Start web, worker and beat together (what `make run` calls) and stop all three on Ctrl-C.

Each child runs in its own process group, so Ctrl-C reaches only this command, which then stops them:
SIGTERM to each main process (the worker finishes its running tasks: warm shutdown), then, once it has
exited or after a grace period, SIGKILL of whatever is left of its group (pool processes included). If
one of them dies, the others are stopped and the command exits non-zero.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery Beat in the foreground; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="0.0.0.0:8000", help="Address of the web server.")
        parser.add_argument("--concurrency", default="2", help="Worker pool processes.")
        parser.add_argument("--grace", type=float, default=30.0,
                            help="Seconds the processes get to stop before they are killed.")

    def handle(self, *args, addr, concurrency, grace, **options):
        python = sys.executable
        celery = os.path.join(os.path.dirname(python), "celery")
        commands = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [celery, "-A", "megahub", "worker", "-l", "INFO", "-c", concurrency, "-n", "worker1@%h",
                       "-E"],
            "beat": [celery, "-A", "megahub", "beat", "-l", "INFO", "--pidfile="],
        }
        stopping = []

        def stop(signum, _frame):
            stopping.append(signal.Signals(signum).name)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        procs = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()}
        self.stdout.write(f"MEGAHUB running: web on http://{addr}/ (API docs at /api/docs/), worker, beat. "
                          "Ctrl-C stops all three.")
        self.stdout.flush()
        failed = None
        while not stopping and failed is None:
            failed = next((name for name, proc in procs.items() if proc.poll() is not None), None)
            time.sleep(0.3)
        if failed:
            self.stderr.write(f"{failed} exited with {procs[failed].returncode}; stopping the others.")
        self._stop_all(procs, grace)
        if failed:
            raise CommandError(f"{failed} stopped unexpectedly.")
        self.stdout.write("MEGAHUB stopped.")

    def _stop_all(self, procs: dict, grace: float) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the main process: the worker then stops its pool itself
        deadline = time.monotonic() + grace
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within {grace:.0f}s; killing it.")
            # Whatever is left of the group (e.g. worker pool processes) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
