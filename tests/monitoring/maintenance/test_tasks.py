"""The maintenance periodic jobs: scheduled under registered task names, and each
one does its job when run the way beat (or the embedded scheduler) runs it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.monitoring.models import ChargerConfiguration, DiagnosticsRequest, FirmwareUpdate
from apps.monitoring.services import diagnostics, firmware
from apps.monitoring.tasks import maintenance as tasks
from config.celery import app as celery_app
from config.embedded import celery_tasks, jobs_from_schedule
from tests import factories

pytestmark = pytest.mark.django_db

MAINTENANCE_TASKS = {
    "monitoring.diagnostics_progress_sync",
    "monitoring.firmware_campaigns_advance",
    "monitoring.configuration_reports_collect",
    "monitoring.configuration_refresh",
}


def test_maintenance_jobs_are_scheduled_under_registered_names():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled >= MAINTENANCE_TASKS
    jobs = jobs_from_schedule(settings.CELERY_BEAT_SCHEDULE, celery_tasks(celery_app))
    assert {job.task.name for job in jobs} >= MAINTENANCE_TASKS


def test_diagnostics_job_fails_expired_requests():
    request, _ = diagnostics._request_create(
        charger=factories.ChargerFactory(),
        requested_by=None,
        now=timezone.now() - timedelta(days=2),
    )
    assert tasks.diagnostics_progress_sync.apply().get() == 1
    request.refresh_from_db()
    assert request.status == DiagnosticsRequest.Status.FAILED


def test_firmware_job_keeps_offline_chargers_waiting():
    charger = factories.ChargerFactory()
    firmware.firmware_campaign_create(
        organization=charger.zone.property.organization,
        name="Job",
        firmware_url="https://fw.example.com/j.bin",
        retrieve_at=timezone.now(),
        chargers=[charger],
    )
    assert tasks.firmware_campaigns_advance.apply().get() == 0
    update = FirmwareUpdate.objects.get()
    assert update.status == FirmwareUpdate.Status.PENDING and update.next_attempt_at is not None


def test_configuration_jobs_skip_offline_chargers_and_expire_lost_reports():
    charger = factories.ChargerFactory(ocpp_version="2.0.1")
    ChargerConfiguration.objects.create(
        charger=charger,
        source=ChargerConfiguration.Source.BASE_REPORT,
        status=ChargerConfiguration.Status.PENDING,
        report_request_id=5,
        requested_at=timezone.now() - timedelta(hours=1),
    )
    assert tasks.configuration_reports_collect.apply().get() == 0
    assert not ChargerConfiguration.objects.exists()
    assert tasks.configuration_refresh.apply().get() == 0
