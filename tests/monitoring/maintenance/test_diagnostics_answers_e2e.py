"""How a charger's answer to the upload request ends it early, with scripted
chargers on the running server: nothing to upload (1.6), refused (2.0.1), and a
2.0.1 charger that accepts without naming a file is still waited for."""

from __future__ import annotations

# The charger's side of the protocol (as in tests/ocpp_consumer): canned answers.
from ocpp.v16 import call_result as result16  # noqa: TID251
from ocpp.v201 import call_result as result201  # noqa: TID251

from apps.monitoring.models import DiagnosticsRequest
from apps.monitoring.services import diagnostics
from tests import factories
from tests.monitoring.maintenance.conftest import on_server, server_quiet
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.test_commands_e2e import ANSWERS_16, ANSWERS_201, charger_online


def _ask(server, cp_id: str, version: str, answers: dict) -> tuple[DiagnosticsRequest, list]:
    charger = factories.ChargerFactory(charge_point_id=cp_id, ocpp_version=version)

    async def scenario() -> tuple[DiagnosticsRequest, list]:
        async with charger_online(server.url(cp_id), cp_id, version, answers) as cp:
            await server_quiet()
            request = await on_server(server, diagnostics.diagnostics_request, charger=charger)
            return request, cp.received

    return run(scenario(), timeout=30)


def test_v16_nothing_to_upload(ocpp_server):
    answers = {**ANSWERS_16, "GetDiagnostics": result16.GetDiagnostics()}
    request, received = _ask(ocpp_server, "DIAG-NONE-16", "1.6", answers)
    assert received[0][0] == "GetDiagnostics"
    assert received[0][1]["location"].startswith("http")
    assert request.status == DiagnosticsRequest.Status.FAILED
    assert request.detail == "The charger has no diagnostics to upload."


def test_v201_refused(ocpp_server):
    """OCA TC_N_34_CSMS: Retrieve Log Information - Rejected."""
    answers = {**ANSWERS_201, "GetLog": result201.GetLog(status="Rejected")}
    request, received = _ask(ocpp_server, "DIAG-NO-201", "2.0.1", answers)
    assert received[0][0] == "GetLog"
    assert received[0][1]["log_type"] == "DiagnosticsLog"
    assert received[0][1]["request_id"] == request.command_id
    assert (request.status, request.ocpp_status) == ("failed", "Rejected")


def test_v201_accepted_without_file_name_is_waited_for(ocpp_server):
    answers = {**ANSWERS_201, "GetLog": result201.GetLog(status="Accepted")}
    request, _ = _ask(ocpp_server, "DIAG-ANON-201", "2.0.1", answers)
    assert request.status == DiagnosticsRequest.Status.REQUESTED
    assert request.command is not None and request.announced_file_name == ""
