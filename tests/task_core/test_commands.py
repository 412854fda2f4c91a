"""The management commands behind `make run`: seed_demo (demo data) and runstack (web + worker + beat)."""

import io
import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from task_core.choices import BrandRole
from task_core.models import Brand, BrandMembership

from ..live import ROOT, child_env, free_port, wait_for, web_answers


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_creates_brands_and_users_and_prints_working_passwords_once():
    first = _seed()
    passwords = dict(re.findall(r"^\s+(admin|operator|viewer)\s+(\S+)", first, re.MULTILINE))
    assert set(passwords) == {"admin", "operator", "viewer"}, first
    for username, password in passwords.items():
        assert authenticate(username=username, password=password) is not None, username
    humari = Brand.objects.get(name="Humari")
    assert Brand.objects.filter(name="Acme").exists()
    roles = dict(BrandMembership.objects.filter(brand=humari).values_list("user__username", "role"))
    assert roles == {"operator": BrandRole.OPERATOR, "viewer": BrandRole.VIEWER}

    second = _seed()  # `make run` calls it on every start
    assert not re.search(r"^\s+(admin|operator|viewer)\s+\S+", second, re.MULTILINE), second
    assert authenticate(username="operator", password=passwords["operator"]) is not None
    assert Brand.objects.count() == 2


def _runstack(port: int, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "runstack", "--addr", f"127.0.0.1:{port}", "--grace", "20"],
                            cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT)




@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_runstack_starts_web_worker_and_beat_and_ctrl_c_stops_every_process(tmp_path):
    port = free_port()
    log_path = tmp_path / "runstack.log"
    with open(log_path, "wb") as log:
        proc = _runstack(port, log)
        try:
            wait_for(lambda: web_answers(port), timeout=60, message="the web server")
            wait_for(lambda: "ready." in log_path.read_text(), timeout=60, message="the worker")
            wait_for(lambda: "beat: Starting" in log_path.read_text(), timeout=60, message="beat")
            family = psutil.Process(proc.pid).children(recursive=True)
            assert len(family) >= 4, family  # web, worker (+ its pool), beat
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground command
            assert proc.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log_path.read_text()
    assert "MEGAHUB stopped." in output
    time.sleep(0.5)
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running after Ctrl-C: {alive}"
    assert not web_answers(port)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_runstack_stops_everything_and_fails_when_one_process_dies(tmp_path):
    port = free_port()
    log_path = tmp_path / "runstack.log"
    with socket.socket() as taken, open(log_path, "wb") as log:
        taken.bind(("127.0.0.1", port))  # the web server cannot start on a port in use
        taken.listen()
        proc = _runstack(port, log)
        try:
            code = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    output = log_path.read_text()
    assert code != 0, output[-3000:]
    assert "web exited" in output and "stopped unexpectedly" in output
