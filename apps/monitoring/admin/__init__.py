"""The admin for monitoring, one module per concern."""

from apps.monitoring.admin import alerts, health, maintenance, webhooks  # noqa: F401
