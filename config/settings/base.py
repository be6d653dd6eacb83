"""Settings shared by every mode. Everything that differs between machines comes
from the environment (see the configuration table in README.md)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from config.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # daphne first: its runserver serves HTTP and websockets from one process.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_tables2",
    "django_celery_beat",
    # For its templates and static files: the API docs page then loads Swagger UI
    # from this server instead of a CDN.
    "ninja",
    "apps.sites",
    "apps.access",
    "apps.chargers",
    "apps.billing",
    "apps.scheduling",
    "apps.energy",
    "apps.ocpp_consumer",
    "apps.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- database -------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
        # Off by default: with persistent connections a health check is one more
        # round trip before every ORM call of every charger message (Channels
        # closes obsolete connections around each call). A connection broken by
        # a database restart fails one call, is then discarded, and the charger
        # retries its message (docs/benchmarks.md).
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the websocket consumers read while another thread writes;
    # IMMEDIATE transactions take the write lock up front instead of failing
    # with "database is locked" half-way through an atomic block.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- channels and celery ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 gives every socket a 5 s read timeout by default; the
                # layer's blocking read waits longer than that when a charger is
                # quiet, and the timeout then kills that charger's consumer
                # (channels_redis issue 422). No timeout: the read blocks as meant.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # Embedded mode: one process, no broker. Tasks run where they are called.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# The periodic jobs, defined once for both runners. In production celery beat's
# DatabaseScheduler writes these entries into its tables when it starts (the admin
# then shows them under "Periodic tasks"); in embedded mode `manage.py run_embedded`
# runs them in-process on the same intervals (config/embedded.py). Schedules are
# seconds (or a timedelta / celery schedule).
CELERY_BEAT_SCHEDULE = {
    "chargers.presence-sweep": {"task": "chargers.charger_presence_sweep", "schedule": 60.0},
    # Hourly: each property's report goes out after 06:00 its local time, once per period.
    "monitoring.reports-send-daily": {"task": "monitoring.reports_send_daily", "schedule": 3600.0},
    "monitoring.reports-send-weekly": {
        "task": "monitoring.reports_send_weekly",
        "schedule": 3600.0,
    },
    # Webhooks: a few seconds is cheap (indexed reads past a cursor, no write when
    # nothing happened) and each run is bounded (WEBHOOK_SEND_BUDGET_S).
    "monitoring.webhook-events-collect": {
        "task": "monitoring.webhook_events_collect",
        "schedule": 5.0,
    },
    "monitoring.webhook-deliveries-send": {
        "task": "monitoring.webhook_deliveries_send",
        "schedule": 5.0,
    },
    "monitoring.webhook-events-purge": {
        "task": "monitoring.webhook_events_purge",
        "schedule": 86400.0,
    },
    "monitoring.alerts-evaluate": {"task": "monitoring.alerts_evaluate", "schedule": 60.0},
    "monitoring.driver-notifications": {
        "task": "monitoring.driver_notifications_send",
        "schedule": 60.0,
    },
    # Maintenance: upload progress, firmware campaigns (progress + offline retries),
    # configuration re-reads and drift (a few chargers per run).
    "monitoring.diagnostics-progress": {
        "task": "monitoring.diagnostics_progress_sync",
        "schedule": 30.0,
    },
    "monitoring.firmware-campaigns": {
        "task": "monitoring.firmware_campaigns_advance",
        "schedule": 60.0,
    },
    "monitoring.configuration-reports": {
        "task": "monitoring.configuration_reports_collect",
        "schedule": 30.0,
    },
    "monitoring.configuration-refresh": {
        "task": "monitoring.configuration_refresh",
        "schedule": 300.0,
    },
    "chargers.ocpp-message-log-purge": {
        "task": "chargers.ocpp_message_log_purge",
        "schedule": 3600.0,
    },
}

# --- auth -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- i18n -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- static files -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"
# Diagnostics and log files uploaded by chargers (apps/monitoring/services/diagnostics.py):
# kept outside any URL that serves MEDIA_ROOT, downloaded only through a view that
# checks the organization. The upload URL handed to a charger must be absolute.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
DIAGNOSTICS_UPLOAD_DIR = MEDIA_ROOT / "diagnostics"
DIAGNOSTICS_UPLOAD_MAX_BYTES = env_int("DIAGNOSTICS_UPLOAD_MAX_BYTES", 50 * 1024 * 1024)
DIAGNOSTICS_UPLOAD_TTL_HOURS = 24
DIAGNOSTICS_UPLOAD_RETENTION_DAYS = env_int("DIAGNOSTICS_UPLOAD_RETENTION_DAYS", 90)

# --- email ----------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Plugboard <plugboard@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- alerts (apps/monitoring) -------------------------------------------------
# Links in alert emails point at PUBLIC_BASE_URL (the admin's alert pages).
ALERTS_EMAIL_SUBJECT_PREFIX = env_str("ALERTS_EMAIL_SUBJECT_PREFIX", "[Plugboard] ")
# Seconds an automatic remedy waits for the charger's answer (default: the command
# timeout, OCPP_COMMAND_TIMEOUT).
ALERTS_REMEDY_TIMEOUT_S = None
# Drivers: a suspension must last this long before "move your car" goes out, and
# sessions that ended or were suspended longer ago than the lookback get no email.
ALERTS_DRIVER_SUSPENDED_AFTER_MINUTES = env_int("ALERTS_DRIVER_SUSPENDED_AFTER_MINUTES", 5)
ALERTS_DRIVER_LOOKBACK_HOURS = env_int("ALERTS_DRIVER_LOOKBACK_HOURS", 6)

# --- logging --------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One "Task ... succeeded" line per run of every periodic job (some run every
        # few seconds) drowns what matters; failures are still logged as errors.
        "celery.app.trace": {"level": env_str("CELERY_TRACE_LOG_LEVEL", "WARNING")},
    },
}

# --- Plugboard --------------------------------------------------------------
# Largest OCPP frame accepted from a charger, in bytes.
OCPP_MAX_FRAME_BYTES = env_int("OCPP_MAX_FRAME_BYTES", 65536)
# Seconds a remote command waits for the charger's answer (API, admin, tasks).
# Longer than the consumer's OCPP call timeout, so its "timeout" report wins.
OCPP_COMMAND_TIMEOUT = env_int("OCPP_COMMAND_TIMEOUT", 35)
# ORM threads per OCPP server process (apps/ocpp_consumer/handlers/orm.py): 0 keeps
# Channels' single thread (SQLite); production (PostgreSQL) defaults to a pool.
OCPP_DB_THREADS = env_int("OCPP_DB_THREADS", 0)
# Handshakes in progress per OCPP server process above which a new connection is
# refused at once (load shedding in a reconnect storm; 0: no bound). Why 64:
# apps/ocpp_consumer/consumers.py.
OCPP_MAX_PENDING_HANDSHAKES = env_int("OCPP_MAX_PENDING_HANDSHAKES", 64)
# Group commit of MeterValues (apps/ocpp_consumer/handlers/writers.py): how long
# the writer gathers messages before writing them together, and how many at most.
OCPP_METER_BATCH_WINDOW_MS = env_int("OCPP_METER_BATCH_WINDOW_MS", 2)
OCPP_METER_BATCH_MAX = env_int("OCPP_METER_BATCH_MAX", 500)
# The raw OCPP message log (OcppMessage): on or off, frames buffered per server
# process before frames are dropped (overload), and days kept.
OCPP_MESSAGE_LOG = env_bool("OCPP_MESSAGE_LOG", True)
OCPP_MESSAGE_LOG_BUFFER = env_int("OCPP_MESSAGE_LOG_BUFFER", 50_000)
OCPP_MESSAGE_LOG_DAYS = env_int("OCPP_MESSAGE_LOG_DAYS", 7)
# Seconds between freezes of the surviving objects in an OCPP server process, so
# that full garbage collections stay short with thousands of chargers connected
# (apps/ocpp_consumer/heap.py; 0: the collector runs unmanaged).
OCPP_GC_FREEZE_INTERVAL_S = env_int("OCPP_GC_FREEZE_INTERVAL_S", 5)
# While the keeper runs: tracked objects made (net) before a young-generation
# collection (CPython's default is 700; 0 leaves it alone).
OCPP_GC_YOUNG_THRESHOLD = env_int("OCPP_GC_YOUNG_THRESHOLD", 20_000)

# Outbound webhooks (docs/webhooks.md). Plain http and loopback/private addresses
# are for development and tests only; link-local addresses are refused always.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", False)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# A CA file to trust besides the system's (receivers behind a private CA).
WEBHOOK_CA_BUNDLE = env_str("WEBHOOK_CA_BUNDLE", "")
# Seconds to connect and for each read of a delivery.
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 5)
# Attempts per delivery; retries wait WEBHOOK_RETRY_BASE_S × 3^(n-1) (±20 %), so
# 8 attempts span about 18 hours.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_S = env_int("WEBHOOK_RETRY_BASE_S", 60)
# Longest a delivery run keeps sending before it lets the next periodic job run.
WEBHOOK_SEND_BUDGET_S = env_int("WEBHOOK_SEND_BUDGET_S", 20)
# How long the previous secret still signs after a rotation.
WEBHOOK_SECRET_ROTATION_GRACE_S = env_int("WEBHOOK_SECRET_ROTATION_GRACE_S", 86400)
# Events (and their deliveries) older than this are deleted.
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30)
