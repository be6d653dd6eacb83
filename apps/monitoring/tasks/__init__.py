"""Celery tasks for monitoring (autodiscovered as `apps.monitoring.tasks`), one module
per concern. Periodic ones are scheduled in settings.CELERY_BEAT_SCHEDULE."""

from apps.monitoring.tasks import alerts, health, maintenance, webhooks  # noqa: F401
