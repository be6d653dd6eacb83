"""Embedded mode for a developer's machine: `make run`."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.env import env_bool, env_str

DEBUG = env_bool("DEBUG", True)
# The published development key is only acceptable while DEBUG is on: with DEBUG
# off this may be a real deployment, where a known key forges sessions.
SECRET_KEY = env_str("SECRET_KEY", "") or (
    "django-insecure-local-development-only-key" if DEBUG else ""
)
if not SECRET_KEY:
    raise ImproperlyConfigured("DEBUG is off: set SECRET_KEY (the development key is not used).")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Webhook receivers on this machine or the LAN, over plain http, while developing
# (DEBUG); an embedded install with DEBUG off keeps the production policy.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", DEBUG)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", DEBUG)
