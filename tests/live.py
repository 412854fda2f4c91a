"""Real Celery worker and beat processes for integration tests, on the test database and broker."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
LOG_DIR = Path(settings.VAR_DIR) / "logs"


def test_database_url() -> str:
    """The URL of the database pytest-django created, for child processes."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(**extra) -> dict:
    env = dict(os.environ)
    env.update({"DATABASE_URL": test_database_url(), "MEGAHUB_TESTING": "1", "MEGAHUB_VAR_DIR": str(settings.VAR_DIR),
                "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


class LiveProcess:
    def __init__(self, args: list[str], name: str, env: dict | None = None):
        self.args, self.name, self.env = args, name, env or child_env()
        self.proc: subprocess.Popen | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"

    def start(self):
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self, timeout: float = 20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def kill(self):
        """SIGKILL the whole process group (main process and pool children)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def _close(self):
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class LiveWorker(LiveProcess):
    def __init__(self, name: str | None = None, concurrency: int = 2, queues: str = "default", env: dict | None = None):
        self.hostname = f"{name or 'w-' + uuid.uuid4().hex[:8]}@testhost"
        args = [CELERY, "-A", "megahub", "worker", "-l", "INFO", "-c", str(concurrency), "-n", self.hostname,
                "-Q", queues, "-E", "--without-gossip", "--without-mingle"]
        super().__init__(args, self.hostname.split("@")[0], env)

    def start(self, wait: bool = True, timeout: float = 40):
        super().start()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 40):
        from celery import current_app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()[-3000:]}")
            if "ready." in self.log():
                try:
                    if current_app.control.ping(destination=[self.hostname], timeout=1.0):
                        return
                except Exception:  # noqa: BLE001 - broker not answering yet
                    pass
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()[-3000:]}")

    def child_pids(self) -> list[int]:
        import psutil

        return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]


class LiveBeat(LiveProcess):
    def __init__(self, name: str | None = None, env: dict | None = None, extra_args: list[str] | None = None):
        name = name or f"beat-{uuid.uuid4().hex[:8]}"
        schedule = str(Path(settings.VAR_DIR) / f"{name}-schedule")
        args = [CELERY, "-A", "megahub", "beat", "-l", "INFO", "-s", schedule, "--pidfile=", *(extra_args or [])]
        super().__init__(args, name, env)


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail with `message`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def web_answers(port: int) -> bool:
    """True when a web server of ours on this local port answers its liveness route."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now (for a private server process)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveRedis(LiveProcess):
    """A private, throw-away redis-server on its own port: stop it to simulate a broker outage."""

    def __init__(self, port: int | None = None, name: str | None = None):
        self.port = port or free_port()
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no"]
        super().__init__(args, name or f"redis-{self.port}", env=dict(os.environ))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10):
        import redis

        super().start()
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self.log()[-2000:]}")
            try:
                if client.ping():
                    return self
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server not answering on {self.port} after {timeout}s")


def reset_broker_pools(app=None) -> None:
    """Close every pooled broker connection and producer of this process's Celery app.

    The next publish, control call or broker read opens a fresh connection to the configured URL.
    """
    from celery import current_app
    from kombu import pools

    app = app or current_app
    pools.reset()  # force-closes and forgets every kombu connection and producer pool
    app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None


class use_broker:  # noqa: N801 - used as a context manager, like a function
    """Point this process's Celery app (publish, control, broker reads) at another broker URL, then back."""

    def __init__(self, url: str, app=None):
        from celery import current_app

        self.url, self.app = url, app or current_app

    def __enter__(self):
        conf = self.app.conf
        self._saved = (conf.get("broker_read_url"), conf.get("broker_write_url"))
        reset_broker_pools(self.app)
        # read/write URLs win over broker_url (which CELERY_BROKER_URL in the environment overrides).
        conf.broker_read_url = conf.broker_write_url = self.url
        return self

    def __exit__(self, *exc):
        reset_broker_pools(self.app)
        self.app.conf.broker_read_url, self.app.conf.broker_write_url = self._saved
        return False
