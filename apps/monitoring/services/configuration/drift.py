"""Templates and drift: which template applies to a charger, and whether its
reported configuration differs from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from apps.chargers.models import Charger
from apps.monitoring.models import ChargerConfiguration, ConfigurationDrift, ConfigurationTemplate


def configuration_template_for(*, charger: Charger) -> ConfigurationTemplate | None:
    """The enabled template of the charger's organization that fits it best: same
    OCPP version; vendor and model equal, or blank (any). The most specific wins."""
    candidates = (
        ConfigurationTemplate.objects.filter(
            organization_id=charger.zone.property.organization_id,
            ocpp_version=charger.ocpp_version,
            is_enabled=True,
        )
        .filter(Q(vendor="") | Q(vendor__iexact=charger.vendor))
        .filter(Q(model="") | Q(model__iexact=charger.model))
        .prefetch_related("keys")
        .order_by("-updated_at", "-pk")
    )
    best = sorted(candidates, key=lambda t: (bool(t.model), bool(t.vendor)), reverse=True)
    return best[0] if best else None


def _same_value(expected: str, reported: Any) -> bool:
    """Values compare as text, ignoring surrounding space; booleans without case
    ("True" and "true" are the same setting); lists of a CSL without spaces."""
    if reported is None:
        return False
    a, b = expected.strip(), str(reported).strip()
    if a.lower() in ("true", "false") and b.lower() in ("true", "false"):
        return a.lower() == b.lower()
    return a.replace(" ", "") == b.replace(" ", "")


@transaction.atomic
def charger_configuration_drift_evaluate(
    *, charger: Charger, now: datetime
) -> ConfigurationDrift | None:
    """Compare the charger's template with what it reported for each template key
    (the latest reading that covers the key). No template: no drift row."""
    template = configuration_template_for(charger=charger)
    if template is None:
        ConfigurationDrift.objects.filter(charger=charger).delete()
        return None
    readings = list(
        ChargerConfiguration.objects.filter(
            charger=charger, status=ChargerConfiguration.Status.COMPLETE
        ).order_by("-requested_at", "-pk")[:20]
    )
    if not readings:
        return None
    differences = []
    for entry in sorted(template.keys.all(), key=lambda k: k.key):
        reported: Any = None
        for reading in readings:
            if entry.key in reading.values:
                reported = reading.values[entry.key]
                break
            if not reading.requested_keys:
                # A full reading without the key: the charger does not have it.
                break
        if not _same_value(entry.value, reported):
            differences.append({"key": entry.key, "expected": entry.value, "reported": reported})
    drift, _ = ConfigurationDrift.objects.select_for_update().get_or_create(
        charger=charger, defaults={"checked_at": now}
    )
    was_drifted = drift.is_drifted
    drift.template = template
    drift.configuration = readings[0]
    drift.differences = differences
    drift.is_drifted = bool(differences)
    drift.checked_at = now
    if drift.is_drifted and not was_drifted:
        drift.drifted_since = now
    elif not drift.is_drifted:
        drift.drifted_since = None
    drift.save()
    return drift


def configuration_template_drift_refresh(*, template: ConfigurationTemplate, now: datetime) -> int:
    """Re-judge drift for the chargers a template may concern (after its keys were
    edited), from what they last reported: no command is sent. Returns how many
    chargers were judged."""
    chargers = (
        Charger.objects.filter(
            zone__property__organization_id=template.organization_id,
            ocpp_version=template.ocpp_version,
            configurations__status=ChargerConfiguration.Status.COMPLETE,
        )
        .select_related("zone__property")
        .distinct()
        .order_by("pk")
    )
    judged = 0
    for charger in chargers:
        charger_configuration_drift_evaluate(charger=charger, now=now)
        judged += 1
    return judged
