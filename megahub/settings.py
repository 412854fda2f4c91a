"""Settings, all from the environment (12-factor).

With nothing set the project runs on the embedded default: SQLite in WAL mode and kombu's filesystem
broker, so web + worker + beat start on a bare machine. `DATABASE_URL`, `CELERY_BROKER_URL` and
`REDIS_URL` switch to PostgreSQL and Redis. Every setting of ours is declared here once, with its default;
code reads `settings.NAME`, never `getattr(settings, NAME, default)`.

Nothing here touches the disk: each folder is created where it is used (megahub/sqlite3 for the
database, megahub/kombu_filesystem.py for the embedded broker, megahub/static.py for STATIC_ROOT).
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


BASE_DIR = Path(__file__).resolve().parent.parent
# The test switch: set by pytest (pyproject.toml, pytest-env) and by the tests for the worker and beat
# processes they start (tests/live.py), never guessed from what is imported.
TESTING = env_bool("MEGAHUB_TESTING", False)
# Test runs keep their SQLite file and broker folders apart.
VAR_DIR = Path(os.environ.get("MEGAHUB_VAR_DIR", BASE_DIR / "var" / ("test" if TESTING else "")))


# Development defaults; `manage.py check --deploy` refuses them (megahub/checks.py).
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-secret-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "*").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "task_core",
    "task_monitoring",
    "task_persistence",
    "task_scheduling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "megahub.static.StaticFilesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "megahub.urls"
WSGI_APPLICATION = "megahub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "megahub" / "templates"],  # the landing page
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60))}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "megahub.sqlite3"}}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["ENGINE"] = "megahub.sqlite3"  # Django's, creating the database's folder
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web, worker and beat processes read while one of them writes;
        # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not :memory:, so live worker processes in the test suite see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-megahub.sqlite3")}
DB_VENDOR = "postgresql" if DATABASES["default"]["ENGINE"].endswith("postgresql") else "sqlite"
# The pipeline's hot statements (task_core/pg_writes.py) are prepared once per connection. Turn off
# behind a pooler that does not keep session state (PgBouncer in transaction mode).
PG_PREPARED_STATEMENTS = env_bool("PG_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker, cache -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://localhost//"
BROKER_KIND = CELERY_BROKER_URL.split("://", 1)[0]
BROKER_DIR = VAR_DIR / "broker"


def _next_redis_db(url: str) -> str:
    """The same Redis server, next database number: the cache must never share the broker's database,
    because clearing a Django cache is FLUSHDB."""
    base, _, db = url.rstrip("/").rpartition("/")
    if db.isdigit() and "://" in base:
        return f"{base}/{(int(db) + 1) % 16}"  # a default Redis has databases 0..15
    return f"{url.rstrip('/')}/1"


# The cache (login throttling, short-lived API caches): CACHE_URL, else Redis next to the broker, else
# memory of each process.
CACHE_URL = os.environ.get("CACHE_URL") or (_next_redis_db(REDIS_URL) if REDIS_URL else "")
# A cache that does not answer within CACHE_TIMEOUT_SECONDS counts as down: cached reads are then computed.
CACHE_TIMEOUT_SECONDS = float(os.environ.get("CACHE_TIMEOUT_SECONDS", "0.5"))
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL,
                          "OPTIONS": {"socket_connect_timeout": CACHE_TIMEOUT_SECONDS,
                                      "socket_timeout": CACHE_TIMEOUT_SECONDS}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# How long a cached read (system status, task-info, enums, periodic-task list and summary) is kept; each
# write renews its brand's generation, so this bounds only what no write announces (workers going on or
# offline, the 24 h window of the summary moving on). 0 turns cached reads off: the default without a
# shared cache, because a per-process memory cannot hear the worker's and Beat's writes.
READ_CACHE_SECONDS = env_int("READ_CACHE_SECONDS", 30 if CACHE_URL else 0)

# --- Tasks ---------------------------------------------------------------------------------------
# The longest timeout a task type or a task may ask for. The broker's visibility timeout must stay
# above it, or Redis hands a still-running task to a second worker.
MAX_TASK_TIMEOUT_SECONDS = env_int("MAX_TASK_TIMEOUT_SECONDS", 6 * 3600)
# Seconds a task may stay `pending` before the outbox sweep re-dispatches it.
OUTBOX_GRACE_SECONDS = env_int("OUTBOX_GRACE_SECONDS", 5)
# Seconds past its hard time limit after which a `running` task is declared lost by the reaper.
STUCK_TASK_GRACE_SECONDS = env_int("STUCK_TASK_GRACE_SECONDS", 120)
# Seconds a task may stay `queued` while its queue is empty before the reaper re-sends its lost message.
QUEUED_STALE_SECONDS = env_int("QUEUED_STALE_SECONDS", 300)
TASK_CONTEXT_MAX_BYTES = 64 * 1024
# --- Reads at scale (docs/architecture.md) -----------------------------------------------------------
# Seconds the list of workers answering a ping is kept in the cache (a ping waits its whole timeout).
WORKERS_ONLINE_CACHE_SECONDS = env_int("WORKERS_ONLINE_CACHE_SECONDS", 10)
# A list's `count` is exact up to this many rows, then a planner estimate (`count_is_exact: false`).
API_COUNT_EXACT_LIMIT = env_int("API_COUNT_EXACT_LIMIT", 1000)
# Page numbers reach this many rows deep at most (OFFSET reads every row it skips); `cursor=` goes on.
API_PAGE_MAX_ROWS = env_int("API_PAGE_MAX_ROWS", 10000)
# The shortest `search` of /tasks/: the trigram index needs three characters.
TASK_SEARCH_MIN_LENGTH = 3
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers send task events (received, started, succeeded, failed...), so Flower shows workers and tasks.
CELERY_WORKER_SEND_TASK_EVENTS = True
# A "sent" event as well costs one more broker publish per task on the enqueue side; the API already
# shows queued tasks. Turn it on to see tasks in Flower before a worker receives them.
CELERY_TASK_SEND_SENT_EVENT = env_bool("CELERY_TASK_SEND_SENT_EVENT", False)
# The worker publishes its buffered task events at most this often (megahub/worker_consumer.py), not
# one Redis round trip per event; 0 restores Celery's publish at every turn of its loop.
CELERY_WORKER_CONSUMER = "megahub.worker_consumer:Consumer"
WORKER_EVENTS_FLUSH_SECONDS = float(os.environ.get("WORKER_EVENTS_FLUSH_SECONDS", "0.1"))
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "django-db")
CELERY_RESULT_EXTENDED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Publishing gives up fast so an API call never hangs on a dead broker; the outbox sweep retries.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# Celery's Django fixup closes the DB connection around every task unless this is set.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_BEAT_SCHEDULER = os.environ.get("CELERY_BEAT_SCHEDULER", "task_scheduling.beat:Scheduler")
# Each expires before the next one is due, so runs that piled up while no worker ran are dropped, and goes
# at the top priority level (Redis), so a backlog of queued work never holds it back until it expires.
# `expire_seconds`, not `expires`: django-celery-beat's scheduler reads only that one from these options.
CELERY_BEAT_SCHEDULE = {
    "megahub.dispatch_pending": {"task": "megahub.dispatch_pending", "schedule": 10.0,
                                 "options": {"expire_seconds": 9, "priority": 0}},
    "megahub.reap_stuck_tasks": {"task": "megahub.reap_stuck_tasks", "schedule": 60.0,
                                 "options": {"expire_seconds": 55, "priority": 0}},
    # Folds the status count deltas (task_core.status_counts): reads sum what is not folded yet.
    "megahub.compact_status_counts": {"task": "megahub.compact_status_counts", "schedule": 10.0,
                                      "options": {"expire_seconds": 9, "priority": 0}},
    "megahub.flush_expired_tokens": {"task": "megahub.flush_expired_tokens", "schedule": 86400.0,
                                     "options": {"expire_seconds": 3600, "priority": 0}},
}
if BROKER_KIND == "redis":
    CELERY_BROKER_TRANSPORT = "megahub.kombu_redis:Transport"
if BROKER_KIND.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": MAX_TASK_TIMEOUT_SECONDS + 3600,
        # Redis emulates priorities with one list per level, popped in order: 0 first.
        "priority_steps": list(range(10)),
        "sep": ":",
        "queue_order_strategy": "priority",
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
elif BROKER_KIND == "filesystem":
    CELERY_BROKER_TRANSPORT = "megahub.kombu_filesystem:Transport"  # kombu's, creating its folders
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }

# --- Auth and API --------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["megahub.api.authentication.BrandJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["megahub.api.renderers.JSONRenderer"],
    # One timestamp format across the API: UTC, microseconds, `Z` (megahub/timestamps.py; TIME_ZONE is UTC).
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "DEFAULT_PARSER_CLASSES": ["megahub.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "megahub.api.pagination.StandardPagination",
    # django-filter's backend, refusing query parameters a list does not know (400 naming them).
    "DEFAULT_FILTER_BACKENDS": ["megahub.api.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "megahub.api.schema.MegahubAutoSchema",
    "EXCEPTION_HANDLER": "megahub.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": os.environ.get("LOGIN_THROTTLE_RATE", "10/minute")},
    # Throttles key on the client address. With 0 trusted proxies that is REMOTE_ADDR and X-Forwarded-For
    # is ignored (DRF's default, None, would key on the whole header: a made-up value per request would
    # bypass the login throttle). Behind N reverse proxies set TRUSTED_PROXY_COUNT=N.
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0),
}
# A back-office UI on another origin (comma-separated, e.g. https://backoffice.example.com); none by default.
CORS_ALLOWED_ORIGINS = [o.strip() for o in os.environ.get("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip()]
CORS_ALLOW_HEADERS = ["accept", "content-type", "authorization", "x-brand-id", "idempotency-key"]
CORS_EXPOSE_HEADERS = ["Idempotent-Replayed"]
SIMPLE_JWT = {
    # Separate from SECRET_KEY so rotating one does not invalidate the other.
    "SIGNING_KEY": os.environ.get("JWT_SIGNING_KEY", "dev-only-insecure-jwt-signing-key-change-me"),
    "ALGORITHM": "HS256",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MEGAHUB task infrastructure API",
    "DESCRIPTION": "Tasks, monitoring, persistence and scheduling for the MEGAHUB back office. "
    "Every /tasks/ call needs `Authorization: Bearer <jwt>` and `X-Brand-ID`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Tag descriptions and the links from created objects to their operations (megahub/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "megahub.api.schema.postprocess"],
    # Swagger UI keeps what "Authorize" was given (the JWT and X-Brand-ID) across page reloads.
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False, "filter": True},
    # Several models have a "status" field with different choices: name each enum explicitly.
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "task_core.choices.TaskStatus",
        "ScheduleStatusEnum": "task_scheduling.choices.ScheduleStatus",
        "HealthStatusEnum": ["ok", "degraded", "unavailable"],
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The time zone a new brand gets (and so its schedules, unless they name one).
BRAND_DEFAULT_TIMEZONE = os.environ.get("BRAND_DEFAULT_TIMEZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve admin and Swagger assets without a collectstatic step in dev

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"quiet_forbidden": {"()": "megahub.logging_filters.QuietForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"},
                # an ordinary 403 is one line, not a traceback
                "django.request": {"filters": ["quiet_forbidden"]}},
}


# --- task_scheduling (owned by the scheduling app) -----------------------------------------------
# A due time older than this when the dispatcher sees it was missed while Beat was down; the template's
# missed-run policy then skips it or runs it once.
SCHEDULING_MISSED_GRACE_SECONDS = env_int("SCHEDULING_MISSED_GRACE_SECONDS", 60)
# Due schedules per dispatcher message sent by task_scheduling.beat.Scheduler.
SCHEDULING_DISPATCH_BATCH = env_int("SCHEDULING_DISPATCH_BATCH", 1000)
# Touched by every Beat tick that reached the database; `manage.py beat_health` checks its age.
SCHEDULING_BEAT_HEARTBEAT = os.environ.get("SCHEDULING_BEAT_HEARTBEAT", str(VAR_DIR / "beat-heartbeat"))
# Lifecycle events kept per schedule (the newest).
SCHEDULING_EVENTS_KEPT = env_int("SCHEDULING_EVENTS_KEPT", 100)
# Seconds Beat waits for a dispatched batch of due schedules to be claimed before sending it again.
SCHEDULING_CONFIRM_SECONDS = env_int("SCHEDULING_CONFIRM_SECONDS", 60)

# --- task_monitoring (owned by the monitoring app) -----------------------------------------------
# Flags of a run's metrics (per-type thresholds in MONITORING_TYPE_THRESHOLDS win over these).
MONITORING_HIGH_MEMORY_MB = float(os.environ.get("MONITORING_HIGH_MEMORY_MB", "512"))
MONITORING_SLOW_MS = env_int("MONITORING_SLOW_MS", 60_000)
MONITORING_EXPENSIVE_USD = float(os.environ.get("MONITORING_EXPENSIVE_USD", "1.0"))
# JSON: {"<task type>": {"high_memory_mb": 100, "slow_ms": 5000, "expensive_usd": 0.5}}
MONITORING_TYPE_THRESHOLDS = json.loads(os.environ.get("MONITORING_TYPE_THRESHOLDS", "{}"))
# JSON: {"<queue>": {"cpu_hour_usd": 0.05, "wall_hour_usd": 0.01}}: added to the task type's own rates.
MONITORING_QUEUE_COST_RATES = json.loads(os.environ.get("MONITORING_QUEUE_COST_RATES", "{}"))
# The worker's main process writes its heartbeat this often; silent this long, it counts as offline.
MONITORING_HEARTBEAT_SECONDS = float(os.environ.get("MONITORING_HEARTBEAT_SECONDS", "10"))
MONITORING_WORKER_OFFLINE_SECONDS = env_int("MONITORING_WORKER_OFFLINE_SECONDS", 60)
# Alert rules are evaluated by a Beat entry this often.
MONITORING_EVALUATE_SECONDS = env_int("MONITORING_EVALUATE_SECONDS", 30)
# The queue alert rules are evaluated on and notifications delivered from (a worker must consume it).
MONITORING_NOTIFY_QUEUE = os.environ.get("MONITORING_NOTIFY_QUEUE", "default")
# Finished tasks (with their events and metrics) older than this are deleted daily; rollups stay.
MONITORING_RETENTION_DAYS = env_int("MONITORING_RETENTION_DAYS", 90)
# Minute and hour rollups are kept this long (day rollups are kept for ever: Prometheus counters).
MONITORING_MINUTE_ROLLUP_HOURS = env_int("MONITORING_MINUTE_ROLLUP_HOURS", 48)
MONITORING_HOUR_ROLLUP_DAYS = env_int("MONITORING_HOUR_ROLLUP_DAYS", 60)
# Alert webhooks to loopback or private addresses are refused (server-side request forgery) unless set.
ALERT_WEBHOOK_ALLOW_PRIVATE = env_bool("ALERT_WEBHOOK_ALLOW_PRIVATE", False)
ALERT_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("ALERT_WEBHOOK_TIMEOUT_SECONDS", "5"))
ALERT_WEBHOOK_MAX_ATTEMPTS = env_int("ALERT_WEBHOOK_MAX_ATTEMPTS", 5)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "megahub@localhost")
# /metrics (Prometheus) is served only when this is set, to `Authorization: Bearer <token>`.
PROMETHEUS_METRICS_TOKEN = os.environ.get("PROMETHEUS_METRICS_TOKEN", "")
# Label the Prometheus series with the brand (more series); off: summed over brands.
PROMETHEUS_BRAND_LABEL = env_bool("PROMETHEUS_BRAND_LABEL", False)
CELERY_BEAT_SCHEDULE.update({
    "megahub.monitoring.evaluate_alerts": {
        "task": "megahub.monitoring.evaluate_alerts", "schedule": float(MONITORING_EVALUATE_SECONDS),
        "options": {"expire_seconds": max(1, MONITORING_EVALUATE_SECONDS - 1), "priority": 0,
                    "queue": MONITORING_NOTIFY_QUEUE}},
    "megahub.monitoring.cleanup_executions": {
        "task": "megahub.monitoring.cleanup_executions", "schedule": 86400.0,
        "options": {"expire_seconds": 3600, "priority": 0}},
})

# --- task_persistence (owned by the persistence app) ---------------------------------------------
# Largest checkpoint state (JSON, bytes); a bigger one is refused with CHECKPOINT_TOO_LARGE.
PERSISTENCE_CHECKPOINT_MAX_BYTES = env_int("PERSISTENCE_CHECKPOINT_MAX_BYTES", 64 * 1024)
# Checkpoints kept per job: the newest N, plus the first.
PERSISTENCE_CHECKPOINTS_KEPT = env_int("PERSISTENCE_CHECKPOINTS_KEPT", 20)
