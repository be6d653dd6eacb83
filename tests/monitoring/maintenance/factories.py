"""Rows of the maintenance models for one organization (tenancy tests, admin tests)."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable
from datetime import timedelta

from django.db import models
from django.utils import timezone

from apps.chargers.models import Charger
from apps.monitoring.models import (
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    ConfigurationTemplate,
    DiagnosticsRequest,
    FirmwareCampaign,
    FirmwareUpdate,
)
from apps.sites.models import Organization
from tests import factories


def charger(org: Organization) -> Charger:
    return factories.ChargerFactory(zone__property__organization=org)


_models = itertools.count(1)


def template(org: Organization) -> ConfigurationTemplate:
    # One template per (organization, vendor, model, version): each call its own model.
    made = ConfigurationTemplate.objects.create(
        organization=org,
        name=f"Template of {org.name}",
        model=f"Model {next(_models)}",
        ocpp_version="1.6",
    )
    made.keys.create(key="HeartbeatInterval", value="120")
    return made


def reading(org: Organization) -> ChargerConfiguration:
    return ChargerConfiguration.objects.create(
        charger=charger(org),
        source=ChargerConfiguration.Source.GET_CONFIGURATION,
        values={"HeartbeatInterval": "300"},
        requested_at=timezone.now(),
        reported_at=timezone.now(),
    )


def drift(org: Organization) -> ConfigurationDrift:
    return ConfigurationDrift.objects.create(
        charger=charger(org),
        template=template(org),
        is_drifted=True,
        differences=[{"key": "HeartbeatInterval", "expected": "120", "reported": "300"}],
        checked_at=timezone.now(),
        drifted_since=timezone.now(),
    )


def change(org: Organization) -> ConfigurationChange:
    return ConfigurationChange.objects.create(
        charger=charger(org),
        key="HeartbeatInterval",
        value="120",
        status=ConfigurationChange.Status.ACCEPTED,
        requested_at=timezone.now(),
    )


def campaign(org: Organization) -> FirmwareCampaign:
    return FirmwareCampaign.objects.create(
        organization=org,
        name=f"Campaign of {org.name}",
        firmware_url="https://firmware.example.com/fw.bin",
        retrieve_at=timezone.now(),
    )


def update(org: Organization) -> FirmwareUpdate:
    return FirmwareUpdate.objects.create(campaign=campaign(org), charger=charger(org))


def diagnostics_request(org: Organization) -> DiagnosticsRequest:
    now = timezone.now()
    return DiagnosticsRequest.objects.create(
        charger=charger(org),
        token_hash=hashlib.sha256(os.urandom(16)).hexdigest(),
        expires_at=now + timedelta(hours=1),
        requested_at=now,
    )


BUILDERS: dict[type[models.Model], Callable[[Organization], models.Model]] = {
    ConfigurationTemplate: template,
    ChargerConfiguration: reading,
    ConfigurationDrift: drift,
    ConfigurationChange: change,
    FirmwareCampaign: campaign,
    FirmwareUpdate: update,
    DiagnosticsRequest: diagnostics_request,
}
