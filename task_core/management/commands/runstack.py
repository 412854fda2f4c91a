"""Start web, worker and beat together (what `make run` calls) and stop all three on Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery Beat in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="0.0.0.0:8000")
        parser.add_argument("--concurrency", default="2")

    def handle(self, *args, addr, concurrency, **options):
        python = sys.executable
        celery = os.path.join(os.path.dirname(python), "celery")
        commands = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [celery, "-A", "megahub", "worker", "-l", "INFO", "-c", concurrency, "-n", "worker1@%h",
                       "-E"],
            "beat": [celery, "-A", "megahub", "beat", "-l", "INFO"],
        }
        procs = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        self.stdout.write(f"MEGAHUB running: web on http://{addr}/ (API docs at /api/docs/), worker, beat. "
                          "Ctrl-C stops all three.")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping the others.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for name, proc in procs.items():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"{name} did not stop in time; killing it.")
                    proc.kill()
            self.stdout.write("MEGAHUB stopped.")
