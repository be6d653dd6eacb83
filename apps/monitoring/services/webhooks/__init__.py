"""Outbound webhooks: subscriptions, finding events, delivering them.

Finding events adds nothing to the OCPP path. A periodic task
(`webhook_events_collect`) reads what the chargers domain stores anyway, each
source past a durable cursor (`WebhookCursor`):

| source           | rows read                                     | events                      |
|------------------|-----------------------------------------------|-----------------------------|
| connections      | ChargerEvent kind "connection"                | charger.online / .offline   |
| faults           | StatusChange with status faulted              | connector.faulted           |
| sessions         | ChargingSession (new rows; active ones watched) | session.started / .stopped |
| alerts           | Alert (new rows; open ones watched)           | alert.opened / .resolved    |

Rows are read in id order up to those received `COLLECT_SETTLE_S` ago: a row
inserted by a transaction that commits later than a newer one (PostgreSQL hands
out ids before commit) is then already visible when the cursor passes its id.
Sessions and alerts change state after they are inserted; the ids still active
(open) are kept in the cursor and looked at again each run.

Each event has a stable id derived from its source row (`evt_conn_123`), so a
run repeated after a crash creates nothing twice (unique in the database), and
receivers can deduplicate retried deliveries on it.

Delivering (`webhook_deliveries_send`) takes due deliveries one at a time under a
lease (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL), POSTs them through
apps/monitoring/outbound.py and records the outcome. Failed attempts are retried
with exponential back-off and jitter; a delivery that used all its attempts
fails, and a subscription that has not succeeded since that delivery was created
(about a day of failures) is disabled and its organization's managers are told.
"""

from apps.monitoring.models.webhooks import SUBSCRIBABLE_EVENT_TYPES
from apps.monitoring.services.webhooks.collect import (
    COLLECT_SETTLE_S,
    CollectResult,
    webhook_events_collect,
)
from apps.monitoring.services.webhooks.deliver import (
    SEND_LEASE_S,
    SendResult,
    webhook_body,
    webhook_deliveries_send,
    webhook_events_purge,
    webhook_retry_delay,
)
from apps.monitoring.services.webhooks.signing import webhook_signature
from apps.monitoring.services.webhooks.subscriptions import (
    MANUAL_RETRY_MAX,
    webhook_deliveries_retry,
    webhook_delivery_retry,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_rotate_secret,
    webhook_subscription_update,
    webhook_test_send,
)

__all__ = [
    "COLLECT_SETTLE_S",
    "MANUAL_RETRY_MAX",
    "SEND_LEASE_S",
    "SUBSCRIBABLE_EVENT_TYPES",
    "CollectResult",
    "SendResult",
    "webhook_body",
    "webhook_deliveries_retry",
    "webhook_deliveries_send",
    "webhook_delivery_retry",
    "webhook_events_collect",
    "webhook_events_purge",
    "webhook_retry_delay",
    "webhook_signature",
    "webhook_subscription_create",
    "webhook_subscription_delete",
    "webhook_subscription_rotate_secret",
    "webhook_subscription_update",
    "webhook_test_send",
]
