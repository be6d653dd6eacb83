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
