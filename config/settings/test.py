"""Settings for the test suite: fast hashing, mail kept in memory."""

from config.settings.base import *  # noqa: F403
from config.settings.env import env_str

DEBUG = False
SECRET_KEY = "test-only-secret-key-that-is-long-enough-for-hmac-use-0123456789"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
# Tests never run collectstatic: without this WhiteNoise warns "No directory at
# staticfiles/" once per request. Autorefresh looks files up per request instead.
WHITENOISE_AUTOREFRESH = True
# The webhook tests run their receivers on 127.0.0.1 (tests of the production
# policy override these).
WEBHOOK_ALLOW_HTTP = True
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

# SQLite: the test database is a file, not Django's default shared-cache in-memory
# database. The end-to-end tests run a real server in a thread that writes while
# the test (or an API call) writes too; shared-cache SQLite answers such a collision
# at once with "database table is locked" (its table locks ignore the busy
# timeout), a file in WAL mode waits for the other writer as production does.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import os
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"plugboard-test-{os.getpid()}.sqlite3")
    }

# No Celery worker runs under the tests: tasks queued on commit (alert emails,
# remedies) run in the test's process, with or without REDIS_URL. The cross-process
# tests start their own processes.
CELERY_TASK_ALWAYS_EAGER = True

# The end-to-end servers run inside the pytest process: freezing its heap would
# keep every test's garbage cycles. The keeper's tests switch it on themselves.
OCPP_GC_FREEZE_INTERVAL_S = 0
