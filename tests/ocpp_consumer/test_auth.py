"""Who may connect: identity, HTTP Basic auth (security profiles 1 and 2), the
subprotocol, onboarding of unknown chargers, and a reconnect taking over the old
socket. Against a real daphne server (see conftest.py); daphne answers every
refused handshake with 403."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from apps.chargers.models import Charger, ChargerEvent
from tests import factories
from tests.ocpp_consumer.conftest import basic_auth, run, wait_for
from tests.ocpp_consumer.stations import connect, refused_status, station

PASSWORD = "s3cret-Passw0rd-for-CP1"  # 16..40 characters, as OCPP requires


@pytest.fixture
def secured(ocpp_server):
    return factories.ChargerFactory(charge_point_id="CP-SEC", password_hash="")


def _with_password(charger: Charger) -> Charger:
    from apps.chargers.services import charger_set_password

    charger_set_password(charger=charger, password=PASSWORD)
    return charger


def test_auth_valid_basic_credentials_connect(ocpp_server, secured):
    """TC_085_CSMS, TC_A_01_CSMS: valid username/password combination."""
    _with_password(secured)

    async def talk():
        async with station(ocpp_server.url("CP-SEC"), headers=basic_auth("CP-SEC", PASSWORD)) as cp:
            return await cp.call(c16.Heartbeat(), suppress=False)

    assert run(talk()).current_time


def test_auth_wrong_password_refused_and_logged(ocpp_server, secured, caplog):
    """TC_A_03_CSMS: invalid password. The attempt is logged without the password."""
    _with_password(secured)
    status = run(
        refused_status(
            ocpp_server.url("CP-SEC"), headers=basic_auth("CP-SEC", "wrong-password-1234")
        )
    )
    assert status == 403
    assert "CP-SEC" in caplog.text and "bad_credentials" in caplog.text
    assert "wrong-password-1234" not in caplog.text
    assert ChargerEvent.objects.filter(
        charger=secured, kind=ChargerEvent.Kind.CONNECTION, summary__contains="bad credentials"
    ).exists()


def test_auth_missing_password_refused(ocpp_server, secured):
    """TC_A_03_CSMS variant: a charger with a password that sends none."""
    _with_password(secured)
    assert run(refused_status(ocpp_server.url("CP-SEC"))) == 403


def test_auth_username_must_equal_charge_point_id(ocpp_server, secured):
    """TC_A_02_CSMS: username does not equal the charging station id."""
    _with_password(secured)
    status = run(
        refused_status(ocpp_server.url("CP-SEC"), headers=basic_auth("CP-OTHER", PASSWORD))
    )
    assert status == 403


def test_auth_malformed_authorization_header_refused(ocpp_server, secured):
    status = run(refused_status(ocpp_server.url("CP-SEC"), headers={"Authorization": "Basic !!!"}))
    assert status == 403


def test_auth_charger_without_password_connects_without_credentials(ocpp_server, secured):
    async def talk():
        async with station(ocpp_server.url("CP-SEC")) as cp:
            return await cp.call(c16.Heartbeat(), suppress=False)

    assert run(talk()).current_time


def test_auth_unknown_charger_refused(ocpp_server):
    assert run(refused_status(ocpp_server.url("NOBODY"))) == 403
    assert not Charger.objects.filter(charge_point_id="NOBODY").exists()


def test_auth_rejected_charger_refused(ocpp_server):
    factories.ChargerFactory(charge_point_id="CP-REJ", registration=Charger.Registration.REJECTED)
    assert run(refused_status(ocpp_server.url("CP-REJ"))) == 403


def test_auth_no_supported_subprotocol_refused(ocpp_server, secured):
    assert run(refused_status(ocpp_server.url("CP-SEC"), subprotocols=["ocpp1.5"])) == 403
    assert run(refused_status(ocpp_server.url("CP-SEC"), subprotocols=[])) == 403


def test_auth_first_supported_subprotocol_offered_is_chosen(ocpp_server, secured):
    import websockets

    async def talk():
        async with websockets.connect(
            ocpp_server.url("CP-SEC"), subprotocols=["ocpp1.5", "ocpp2.0.1", "ocpp1.6"]
        ) as ws:
            return ws.subprotocol

    assert run(talk()) == "ocpp2.0.1"
    assert wait_for(lambda: Charger.objects.get(pk=secured.pk).ocpp_version == "2.0.1")


def test_auth_trailing_slash_and_percent_encoded_id(ocpp_server):
    # Ids never contain spaces here (see charge_point_id_validator); "#" must be
    # percent-encoded in a URL.
    factories.ChargerFactory(charge_point_id="RDAM#123")

    async def talk():
        async with station(ocpp_server.url("RDAM%23123/")) as cp:
            return await cp.call(c16.Heartbeat(), suppress=False)

    assert run(talk()).current_time


def test_auth_own_property_key_accepted_other_key_refused(ocpp_server):
    charger = factories.ChargerFactory(charge_point_id="CP-KEY")
    other = factories.PropertyFactory()
    key = charger.zone.property.onboarding_key
    assert run(refused_status(ocpp_server.url(f"{other.onboarding_key}/CP-KEY"))) == 403

    async def talk():
        async with station(ocpp_server.url(f"{key}/CP-KEY")) as cp:
            return await cp.call(c16.Heartbeat(), suppress=False)

    assert run(talk()).current_time


def test_auth_unknown_charger_onboarded_as_pending(ocpp_server):
    """TC_B_02_CSMS (the CSMS side of Pending): an unknown charger connecting with the
    onboarding URL of a property that accepts unknown chargers is registered as
    pending in the onboarding zone; its BootNotification is answered Pending."""
    zone = factories.ZoneFactory()
    prop = zone.property
    prop.accept_unknown_chargers = True
    prop.onboarding_zone = zone
    prop.save()

    async def talk():
        async with station(ocpp_server.url(f"{prop.onboarding_key}/NEW-1"), "2.0.1") as cp:
            return await cp.call(
                c201.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
                ),
                suppress=False,
            )

    answer = run(talk())
    assert answer.status == "Pending"
    charger = Charger.objects.get(charge_point_id="NEW-1")
    assert charger.registration == Charger.Registration.PENDING
    assert charger.zone == zone
    assert charger.vendor == "V"


def test_auth_unknown_charger_refused_when_property_does_not_onboard(ocpp_server):
    prop = factories.PropertyFactory()
    assert run(refused_status(ocpp_server.url(f"{prop.onboarding_key}/NEW-2"))) == 403
    assert not Charger.objects.filter(charge_point_id="NEW-2").exists()


def test_auth_reconnect_takes_over_old_socket(ocpp_server):
    """A charger that reconnects while its old socket is open: the new connection
    wins, the old one is closed, and closing the old one leaves the charger online."""
    charger = factories.ChargerFactory(charge_point_id="CP-TWICE")

    async def talk():
        async with connect(ocpp_server.url("CP-TWICE")) as old:
            first_channel = await asyncio.to_thread(
                lambda: wait_for(lambda: Charger.objects.get(pk=charger.pk).channel_name)
            )
            async with station(ocpp_server.url("CP-TWICE")) as cp:
                # The old socket is closed by the server.
                await asyncio.wait_for(old.wait_closed(), 5)
                answer = await cp.call(c16.Heartbeat(), suppress=False)
                await asyncio.sleep(0.1)
                current = await asyncio.to_thread(
                    lambda: Charger.objects.get(pk=charger.pk).channel_name
                )
                return first_channel, current, old.close_code, answer

    first_channel, current, close_code, answer = run(talk())
    assert answer.current_time
    assert close_code == 4000
    assert current and current != first_channel
    # Once the new socket closed too, the charger is offline.
    assert wait_for(lambda: not Charger.objects.get(pk=charger.pk).online)


def test_auth_disconnect_marks_charger_offline(ocpp_server):
    charger = factories.ChargerFactory(charge_point_id="CP-OFF")

    async def talk():
        async with station(ocpp_server.url("CP-OFF")) as cp:
            await cp.call(c16.Heartbeat(), suppress=False)

    run(talk())
    assert wait_for(lambda: not Charger.objects.get(pk=charger.pk).online)
    charger.refresh_from_db()
    assert charger.connected_at and charger.disconnected_at


def test_auth_new_password_works_at_once_old_one_refused(ocpp_server, secured):
    """TC_073_CSMS / TC_A_09_CSMS, the central system's half: once the charger
    accepted a new password (ChangeConfiguration AuthorizationKey / SetVariables
    BasicAuthPassword) and it is stored, the old one is refused at once."""
    from apps.chargers.services import charger_set_password

    _with_password(secured)
    new_password = "the-new-password-0123456"
    charger_set_password(charger=secured, password=new_password)
    old = run(refused_status(ocpp_server.url("CP-SEC"), headers=basic_auth("CP-SEC", PASSWORD)))
    new = run(refused_status(ocpp_server.url("CP-SEC"), headers=basic_auth("CP-SEC", new_password)))
    assert (old, new) == (403, 0)
