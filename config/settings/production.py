"""Production: PostgreSQL, Redis, TLS at the proxy. Refuses to start half-configured."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, REDIS_URL, SECRET_KEY
from config.settings.env import env_bool, env_int

DEBUG = False

if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("Set SECRET_KEY to a random string of at least 50 characters.")
# Production is several processes (daphne, celery workers, beat) sharing state. On
# the SQLite default each would write its own file or fight over one lock, and
# without Redis each daphne has its own in-memory channel layer: a command sent
# from a worker or another daphne never reaches the charger's socket.
POSTGRESQL_ENGINES = {"django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"}
if DATABASES["default"]["ENGINE"] not in POSTGRESQL_ENGINES:
    raise ImproperlyConfigured(
        "Set DATABASE_URL to a PostgreSQL database (postgres://user:password@host:5432/name): "
        "production does not run on SQLite."
    )
# Persistent database connections: the websocket consumers make one ORM call per
# charger message, and opening a PostgreSQL connection for each costs more than
# the call itself. Recycled every ten minutes (DB_CONN_MAX_AGE, seconds).
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 600)
# A pool of ORM threads per daphne process instead of Channels' single one (each
# thread holds a PostgreSQL connection: size max_connections for it).
OCPP_DB_THREADS = env_int("OCPP_DB_THREADS", 4)
if not REDIS_URL:
    raise ImproperlyConfigured(
        "Set REDIS_URL (redis://host:6379/0): production needs Redis for the channel layer "
        "and the Celery broker, or commands are lost between processes."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
