"""Monitoring models, one module per concern; all importable from here."""

from apps.monitoring.models.alerts import *  # noqa: F403
from apps.monitoring.models.health import *  # noqa: F403
from apps.monitoring.models.maintenance import *  # noqa: F403
from apps.monitoring.models.webhooks import *  # noqa: F403
