"""Embedded mode for a developer's machine: `make run`."""

from config.settings.base import *  # noqa: F403
from config.settings.env import env_bool, env_str

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "") or "django-insecure-local-development-only-key"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
