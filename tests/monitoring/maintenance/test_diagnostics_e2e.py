"""Diagnostics / log uploads against the running server: a simulated charger
asked for its diagnostics (1.6 GetDiagnostics) or log (2.0.1 GetLog) really uploads
a file by HTTP to the single-use URL, the file is stored and downloadable by the
owning organization only; bad tokens, reused tokens and oversized bodies are
refused over real HTTP."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.chargers.models import ChargerEvent, CommandLog
from apps.monitoring.models import DiagnosticsRequest
from apps.monitoring.services import diagnostics
from apps.sites.models import Membership
from tests import factories
from tests.monitoring.maintenance.conftest import on_server, simulated, until, with_station


def _http(url: str, data: bytes, *, method: str = "POST", content_type: str = "") -> int:
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (test server)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _manager(org, username: str):
    user = factories.UserFactory(username=username)
    factories.MembershipFactory(user=user, organization=org, role=Membership.Role.PROPERTY_MANAGER)
    return user


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_charger_uploads_and_manager_downloads(ocpp_server, settings, client, version):
    """OCA TC_045_1_CSMS (1.6 Get Diagnostics) and TC_N_25_CSMS (2.0.1 diagnostics log)."""
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{ocpp_server.port}"
    charger = factories.ChargerFactory(charge_point_id=f"CP-DIAG-{version}", ocpp_version=version)
    org = charger.zone.property.organization
    manager = _manager(org, f"diag-manager-{version}")
    stranger = _manager(factories.OrganizationFactory(), f"diag-stranger-{version}")
    station = simulated(ocpp_server.port, charger.charge_point_id, version)

    async def scenario() -> DiagnosticsRequest:
        request = await on_server(
            ocpp_server,
            diagnostics.diagnostics_request,
            charger=charger,
            issued_by=manager,
            source=CommandLog.Source.ADMIN,
        )
        assert request.status == DiagnosticsRequest.Status.REQUESTED, request.detail
        # The upload itself marks the request uploaded; the charger then says so.
        await until(
            lambda: DiagnosticsRequest.objects.filter(pk=request.pk, status="uploaded").exists(),
            seconds=15,
        )
        await until(
            lambda: ChargerEvent.objects.filter(
                charger=charger,
                kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS,
                summary__contains="Uploaded",
            ).exists()
        )
        return request

    request = with_station(station, scenario)
    request.refresh_from_db()
    assert request.status == DiagnosticsRequest.Status.UPLOADED
    assert request.requested_by == manager
    assert request.command is not None and request.command.command == "get-diagnostics"
    location = request.command.params["location"]
    assert location.startswith(f"http://127.0.0.1:{ocpp_server.port}/maintenance/uploads/")
    token = location.rstrip("/").rsplit("/", 1)[-1]
    assert len(token) >= 40 and token not in request.token_hash
    assert request.announced_file_name.startswith(charger.charge_point_id)
    assert request.file_name == request.announced_file_name
    stored = Path(settings.DIAGNOSTICS_UPLOAD_DIR) / request.file_path
    content = stored.read_text()
    assert f"diagnostics of {charger.charge_point_id}" in content
    assert request.file_size == len(content.encode())

    # The notifications agree with the upload; nothing changes it any more.
    assert diagnostics.diagnostics_progress_sync(now=timezone.now()) == 0
    statuses = list(
        ChargerEvent.objects.filter(
            charger=charger, kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS
        ).values_list("payload__status", flat=True)
    )
    assert statuses == ["Uploading", "Uploaded"]

    # The token was single use: a second upload is refused.
    assert _http(location, b"again", method="PUT") == 404

    url = reverse("monitoring:diagnostics-download", args=[request.pk])
    client.force_login(manager)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == content
    assert request.file_name in response["Content-Disposition"]
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_upload_endpoint_refuses_bad_tokens_and_oversized_bodies(ocpp_server, settings):
    settings.DIAGNOSTICS_UPLOAD_MAX_BYTES = 1000
    base = f"http://127.0.0.1:{ocpp_server.port}"
    charger = factories.ChargerFactory()
    request, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now()
    )
    url = diagnostics.upload_url(token=token, base_url=base)

    assert _http(f"{base}/maintenance/uploads/not-a-token/", b"x" * 10) == 404
    assert _http(url, b"x" * 1001, method="PUT") == 413
    form = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.log"\r\n\r\n'
        + b"x" * 1001
        + b"\r\n--b--\r\n"
    )
    assert _http(url, form, content_type="multipart/form-data; boundary=b") == 413
    # GET is not an upload.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)  # noqa: S310 (test server)
    assert refused.value.code == 405
    request.refresh_from_db()
    assert request.status == DiagnosticsRequest.Status.REQUESTED
    assert not list(Path(settings.DIAGNOSTICS_UPLOAD_DIR).rglob("*")) or all(
        p.is_dir() for p in Path(settings.DIAGNOSTICS_UPLOAD_DIR).rglob("*")
    )

    # Within the limit, a raw PUT is stored under a safe name of ours.
    assert _http(f"{url}..%2F..%2Fetc%2Fpasswd", b"log line\n", method="PUT") == 201
    request.refresh_from_db()
    assert request.status == DiagnosticsRequest.Status.UPLOADED
    assert "/" not in request.file_name and ".." not in request.file_name
    root = Path(settings.DIAGNOSTICS_UPLOAD_DIR).resolve()
    assert root in (root / request.file_path).resolve().parents
    assert (root / request.file_path).read_bytes() == b"log line\n"
    assert _http(url, b"second", method="PUT") == 404


def test_expired_link_is_refused_and_request_fails(ocpp_server, settings):
    base = f"http://127.0.0.1:{ocpp_server.port}"
    charger = factories.ChargerFactory()
    request, token = diagnostics._request_create(
        charger=charger, requested_by=None, now=timezone.now() - timezone.timedelta(days=2)
    )
    assert _http(diagnostics.upload_url(token=token, base_url=base), b"late", method="PUT") == 404
    assert diagnostics.diagnostics_progress_sync(now=timezone.now()) == 1
    request.refresh_from_db()
    assert request.status == DiagnosticsRequest.Status.FAILED
    assert "expired" in request.detail


def test_offline_charger_request_is_kept_as_failed(ocpp_server):
    charger = factories.ChargerFactory()
    request = diagnostics.diagnostics_request(charger=charger)
    assert request.status == DiagnosticsRequest.Status.FAILED
    assert "offline" in request.detail


def test_ftp_location_is_reported_failed_by_the_simulator(ocpp_server):
    """OCA TC_045_2_CSMS (upload failed): the simulator speaks HTTP(S) only, another
    scheme is an UploadFailed, and the request fails with it."""
    charger = factories.ChargerFactory(charge_point_id="CP-DIAG-FTP")
    station = simulated(ocpp_server.port, charger.charge_point_id, "1.6")
    request, _ = diagnostics._request_create(charger=charger, requested_by=None, now=timezone.now())

    async def scenario() -> None:
        await asyncio.to_thread(
            ocpp_server.on_server_loop,
            _command(charger.charge_point_id, {"location": "ftp://example.invalid/"}),
        )
        await until(
            lambda: ChargerEvent.objects.filter(
                charger=charger, kind=ChargerEvent.Kind.DIAGNOSTICS_STATUS
            ).exists()
        )

    with_station(station, scenario)
    assert diagnostics.diagnostics_progress_sync(now=timezone.now()) == 1
    request.refresh_from_db()
    assert request.status == DiagnosticsRequest.Status.FAILED
    assert request.ocpp_status == "UploadFailed"


async def _command(charge_point_id: str, params: dict):
    from apps.chargers.commands import command_send

    return await command_send(
        charger=charge_point_id, command="get-diagnostics", params=params, source="system"
    )
