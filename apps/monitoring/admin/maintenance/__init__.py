"""maintenance admin: configuration templates (edited), reported configurations,
drift and changes (read-only), firmware campaigns and diagnostics uploads; plus the
actions on the charger list (apps/chargers/admin.py) that start them.

One module per concern; importing this package registers them all. The charger
list imports its actions and filter from here."""

from apps.monitoring.admin.maintenance import configuration, diagnostics, firmware  # noqa: F401
from apps.monitoring.admin.maintenance.charger_actions import CHARGER_ACTIONS, ChargerDriftedFilter

__all__ = ["CHARGER_ACTIONS", "ChargerDriftedFilter"]
