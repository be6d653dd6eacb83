from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Monitoring and maintenance: the live view, alerts and self-healing, health
    reports, configuration and firmware management, outbound webhooks. It reads what
    apps.chargers stores and acts through its command service (chargers ← monitoring)."""

    name = "apps.monitoring"
    verbose_name = "Monitoring and maintenance"
