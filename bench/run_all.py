"""`make bench`: every bench/bench_*.py in turn (bench_persistence.py among them), each in its own process,
on PostgreSQL + Redis.

Defaults: DATABASE_URL=postgres://postgres@127.0.0.1:5432/megahub_bench, REDIS_URL=redis://127.0.0.1:6379/6.
The database is created when missing and migrated before the first script runs.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine, set_env_defaults  # noqa: E402


def ensure_database(url: str) -> None:
    """CREATE DATABASE when the PostgreSQL database of `url` does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    if not cfg["ENGINE"].endswith("postgresql"):
        return
    params = {"host": cfg.get("HOST") or "127.0.0.1", "port": cfg.get("PORT") or 5432, "user": cfg.get("USER"),
              "password": cfg.get("PASSWORD") or None, "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
            print(f"created database {cfg['NAME']}")


def main() -> int:
    set_env_defaults()
    print(f"make bench: {machine()}; DATABASE_URL={os.environ['DATABASE_URL']} REDIS_URL={os.environ['REDIS_URL']}",
          flush=True)
    ensure_database(os.environ["DATABASE_URL"])
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
    scripts = sorted((ROOT / "bench").glob("bench_*.py"))
    failed = []
    for script in scripts:
        print(f"\n=== {script.relative_to(ROOT)} ===", flush=True)
        start = time.monotonic()
        rc = subprocess.run([sys.executable, str(script)], cwd=ROOT).returncode
        print(f"=== {script.name}: exit {rc}, {time.monotonic() - start:.0f} s ===", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
