"""The periodic jobs: prune old readings and refresh stale ones."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from apps.chargers.models import Charger, CommandLog
from apps.monitoring.models import ChargerConfiguration
from apps.monitoring.services.configuration.drift import configuration_template_for
from apps.monitoring.services.configuration.reading import (
    charger_configuration_read,
    configuration_reports_collect,
)
from apps.sites.exceptions import DomainError

log = logging.getLogger(__name__)


# How long a charger's configuration reading stays fresh for the periodic refresh,
# and how many chargers one run asks (a modest rate: each reading is a command).
REFRESH_AFTER = timedelta(hours=6)
REFRESH_PER_RUN = 20
# How long readings are kept (the latest of each charger always is).
READINGS_KEPT = timedelta(days=90)


def configuration_readings_prune(*, now: datetime) -> int:
    """Forget readings older than READINGS_KEPT, except each charger's latest
    complete one (drift is judged from it). Returns how many were deleted."""
    latest = (
        ChargerConfiguration.objects.filter(status=ChargerConfiguration.Status.COMPLETE)
        .values("charger_id")
        .annotate(last=Max("pk"))
        .order_by()
        .values("last")
    )
    deleted, _ = (
        ChargerConfiguration.objects.filter(requested_at__lt=now - READINGS_KEPT)
        .exclude(pk__in=latest)
        .delete()
    )
    return deleted


def configuration_refresh(*, now: datetime, limit: int = REFRESH_PER_RUN) -> int:
    """The periodic job: complete pending 2.0.1 reports, then re-read the online
    chargers whose last reading is oldest (at most `limit`, none read within
    REFRESH_AFTER) — a templated charger its template's keys, another all keys —
    and re-evaluate their drift. Returns how many chargers were read."""
    configuration_reports_collect(now=now)
    configuration_readings_prune(now=now)
    stale = now - REFRESH_AFTER
    online = (
        Charger.objects.exclude(channel_name="")
        .filter(registration=Charger.Registration.ACCEPTED)
        .select_related("zone__property")
    )
    recent = set(
        ChargerConfiguration.objects.filter(requested_at__gte=stale).values_list(
            "charger_id", flat=True
        )
    )
    last_read: dict[int, datetime] = dict(
        ChargerConfiguration.objects.values("charger_id")
        .annotate(last=Max("requested_at"))
        .order_by()
        .values_list("charger_id", "last")
    )
    due = sorted(
        (c for c in online if c.pk not in recent),
        key=lambda c: (c.pk in last_read, last_read.get(c.pk, now), c.pk),
    )[:limit]
    timeout = float(getattr(settings, "MAINTENANCE_COMMAND_TIMEOUT", 20))
    read = 0
    for charger in due:
        template = configuration_template_for(charger=charger)
        keys = [k.key for k in template.keys.all()] if template else None
        try:
            charger_configuration_read(
                charger=charger, keys=keys, source=CommandLog.Source.TASK, timeout=timeout
            )
            read += 1
        except DomainError as exc:
            log.info("%s: configuration not read: %s", charger, exc)
    return read
