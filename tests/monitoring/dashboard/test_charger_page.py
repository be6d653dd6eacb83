"""The charger page: header, live part, timeline, sessions, OCPP log, configuration,
firmware, command history; tenancy and roles."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.chargers.models import ChargerEvent, ChargingSession, CommandLog, Connector, OcppMessage
from apps.monitoring.tables import FRAME_PREVIEW_CHARS
from apps.monitoring.views.charger import HANDS, MESSAGES_PER_PAGE
from tests import factories
from tests.monitoring.dashboard.conftest import start_session
from tests.monitoring.dashboard.test_dashboard import open_alert, text_of

pytestmark = pytest.mark.django_db

TABS = ("charger", "charger-sessions", "charger-messages", "charger-configuration", "charger-live")


def url(name: str, charge_point_id: str, **kwargs) -> str:
    return reverse(f"monitoring:{name}", kwargs={"charge_point_id": charge_point_id, **kwargs})


@pytest.fixture
def charger(make_charger):
    return make_charger(
        "CP-PAGE",
        statuses=(Connector.Status.CHARGING, Connector.Status.AVAILABLE),
        vendor="Wallbox",
        model="Pulsar Plus",
        firmware_version="5.17.2",
        ocpp_version="1.6",
        last_seen_at=timezone.now() - timedelta(seconds=40),
    )


@pytest.mark.parametrize("name", TABS)
def test_charger_page_requires_login(client, charger, name):
    response = client.get(url(name, "CP-PAGE"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("name", TABS)
def test_another_organizations_charger_is_not_found(client, manager_a, org_b, name):
    theirs = factories.ChargerFactory(charge_point_id="CP-B", zone__property__organization=org_b)
    factories.ConnectorFactory(charger=theirs)
    client.force_login(manager_a)
    assert client.get(url(name, "CP-B")).status_code == 404
    assert client.get(url(name, "CP-NOWHERE")).status_code == 404


def test_another_organizations_charger_takes_no_commands(client, manager_a, org_b):
    theirs = factories.ChargerFactory(charge_point_id="CP-B", zone__property__organization=org_b)
    factories.ConnectorFactory(charger=theirs)
    client.force_login(manager_a)
    response = client.post(url("charger-command", "CP-B", hand="reset"), {"type": "soft"})
    assert response.status_code == 404
    assert not CommandLog.objects.exists()


def test_overview_shows_the_header_and_the_live_connectors(client, manager_a, charger, org_a):
    start_session(
        charger, vehicle=factories.VehicleFactory(organization=org_a, model="Model 3", make="Tesla")
    )
    open_alert(charger, title="Rebooted 4 times today")
    open_alert(charger, connector=charger.connectors.get(connector_id=2), title="Lock stuck")
    client.force_login(manager_a)

    page = client.get(url("charger", "CP-PAGE")).content.decode()

    header = text_of(re.search(r'<header class="charger-head">.*?</header>', page, re.S)[0])
    for fact in ("Wallbox", "Pulsar Plus", "5.17.2", "OCPP 1.6J", "11 kW", "40 s ago"):
        assert fact in header, fact
    live = re.search(r'<div id="live".*?</section>', page, re.S)[0]
    assert "Online" in live
    assert "Tesla Model 3" in text_of(live)
    assert "7.2 kW" in text_of(live)
    assert f'data-live-url="{url("charger-live", "CP-PAGE")}"' in page
    assert "Rebooted 4 times today" in live
    second = re.search(r'<li class="connector[^"]*" data-connector="2".*?</li>', live, re.S)[0]
    assert "Lock stuck" in second


def test_status_history_is_newest_first_with_durations(client, manager_a, charger):
    connector = charger.connectors.get(connector_id=1)
    now = timezone.now()
    for minutes_ago, status in ((90, "available"), (60, "preparing"), (45, "charging")):
        factories.StatusChangeFactory(
            charger=charger,
            connector=connector,
            status=status,
            reported_at=now - timedelta(minutes=minutes_ago),
        )
    factories.StatusChangeFactory(
        charger=charger,
        connector=connector,
        status="faulted",
        error_code="GroundFailure",
        vendor_error_code="E42",
        reported_at=now - timedelta(minutes=100),
    )
    client.force_login(manager_a)

    page = client.get(url("charger", "CP-PAGE")).content.decode()

    timeline = re.search(r'<ol class="timeline">.*?</ol>', page, re.S)[0]
    entries = [
        text_of(e) for e in re.findall(r"<li class=\"timeline-entry.*?</li>", timeline, re.S)
    ]
    assert [e.split(": ")[1].split()[0] for e in entries] == [
        "Charging",
        "Preparing",
        "Available",
        "Faulted",
    ]
    assert entries[0].endswith("for 45 min 00 s (now)")
    assert entries[1].endswith("15 min 00 s")
    assert entries[2].endswith("30 min 00 s")
    assert "GroundFailure (E42)" in entries[3]
    assert entries[3].endswith("10 min 00 s")


def test_command_history_lists_the_chargers_commands(client, manager_a, charger):
    CommandLog.objects.create(
        charger=charger,
        command="reset",
        params={"type": "soft"},
        issued_by=manager_a,
        source=CommandLog.Source.DASHBOARD,
        outcome=CommandLog.Outcome.ANSWERED,
        status="Accepted",
    )
    client.force_login(manager_a)

    page = client.get(url("charger", "CP-PAGE")).content.decode()

    history = text_of(re.search(r'id="commands-heading".*?</section>', page, re.S)[0])
    assert "reset" in history
    assert "manager_a Dashboard" in history
    assert "Accepted" in history


def test_managers_see_the_maintenance_buttons_viewers_do_not(client, manager_a, viewer_a, charger):
    start_session(charger)
    client.force_login(manager_a)
    page = client.get(url("charger", "CP-PAGE")).content.decode()
    shown = set(re.findall(r'data-hand="([\w-]+)"', page))
    assert shown == {slug for slug, hand in HANDS.items() if hand.on_overview}
    assert "read-configuration" not in shown  # on the configuration tab
    assert page.count('name="csrfmiddlewaretoken"') >= len(shown)

    client.force_login(viewer_a)
    page = client.get(url("charger", "CP-PAGE")).content.decode()
    assert 'data-hand="' not in page
    assert 'id="hands"' not in page


def test_remote_stop_is_offered_only_with_a_session_in_progress(client, manager_a, charger):
    client.force_login(manager_a)
    page = client.get(url("charger", "CP-PAGE")).content.decode()
    assert 'data-hand="remote-stop"' not in page


@pytest.mark.parametrize("hand", sorted(HANDS))
def test_a_viewer_gets_403_and_nothing_is_sent(client, viewer_a, charger, hand):
    client.force_login(viewer_a)
    response = client.post(
        url("charger-command", "CP-PAGE", hand=hand),
        {"type": "soft", "connector": "1", "id_tag": "TAG", "message": "Heartbeat"},
    )
    assert response.status_code == 403
    assert not CommandLog.objects.exists()


def test_commands_are_post_only(client, manager_a, charger):
    client.force_login(manager_a)
    assert client.get(url("charger-command", "CP-PAGE", hand="reset")).status_code == 405
    assert client.post(url("charger-command", "CP-PAGE", hand="explode")).status_code == 404


def test_an_invalid_command_form_says_why_and_sends_nothing(client, manager_a, charger):
    client.force_login(manager_a)
    response = client.post(
        url("charger-command", "CP-PAGE", hand="remote-start"),
        {"connector": "9", "id_tag": ""},
        follow=True,
    )
    page = response.content.decode()
    assert "Remote start:" in page
    assert "Connector: Select a valid choice" in page
    assert "Id tag: This field is required." in page
    assert not CommandLog.objects.exists()


# The command service talks to the database from its own async context
# (database_sync_to_async), which a test transaction cannot span on PostgreSQL.
@pytest.mark.django_db(transaction=True)
def test_a_command_to_an_offline_charger_is_logged_and_reported(client, manager_a, make_charger):
    make_charger("CP-OFF", online=False)
    client.force_login(manager_a)
    response = client.post(
        url("charger-command", "CP-OFF", hand="reset"), {"type": "hard"}, follow=True
    )
    assert "Reset: the charger is offline, nothing was sent." in response.content.decode()
    log = CommandLog.objects.get()
    assert (log.command, log.params, log.outcome, log.source) == (
        "reset",
        {"type": "hard"},
        CommandLog.Outcome.OFFLINE,
        CommandLog.Source.DASHBOARD,
    )


# --- sessions ---------------------------------------------------------------------------


@pytest.fixture
def sessions(charger, org_a):
    connector1 = charger.connectors.get(connector_id=1)
    connector2 = charger.connectors.get(connector_id=2)
    start = timezone.now() - timedelta(days=3)
    person = factories.PersonFactory(organization=org_a, first_name="Grace", last_name="Hopper")
    made = []
    for n in range(4):
        made.append(
            factories.ChargingSessionFactory(
                connector=connector2 if n % 2 else connector1,
                charger=charger,
                state=ChargingSession.State.COMPLETED,
                started_at=start + timedelta(hours=n),
                stopped_at=start + timedelta(hours=n, minutes=30),
                meter_start_wh=1000,
                meter_stop_wh=1000 + 1000 * (n + 1),
                id_tag=f"TAG{n}",
                person=person if n == 3 else None,
                stop_reason="EVDisconnected",
            )
        )
    made.append(start_session(charger, id_tag="LIVE-TAG"))
    return made


def rows_of(page: str) -> list[str]:
    body = re.search(r"<tbody[^>]*>(.*?)</tbody>", page, re.S)[1]
    return [text_of(r) for r in re.findall(r"<tr.*?</tr>", body, re.S)]


def test_sessions_table_lists_filters_and_sorts(client, manager_a, sessions):
    client.force_login(manager_a)
    page_url = url("charger-sessions", "CP-PAGE")

    rows = rows_of(client.get(page_url).content.decode())
    assert len(rows) == 5
    assert "LIVE-TAG" in rows[0] and "in progress" in rows[0]
    assert "3.50 so far" in rows[0]  # the energy of its latest samples

    completed = rows_of(client.get(page_url, {"state": "completed"}).content.decode())
    assert len(completed) == 4
    assert all("Completed" in r for r in completed)

    by_person = rows_of(client.get(page_url, {"who": "hopper"}).content.decode())
    assert len(by_person) == 1 and "Grace Hopper" in by_person[0]

    on_two = rows_of(client.get(page_url, {"connector": "2"}).content.decode())
    assert {r.split()[4] for r in on_two} == {"2"}
    assert len(on_two) == 2

    by_energy = rows_of(
        client.get(page_url, {"sort": "energy_wh", "state": "completed"}).content.decode()
    )
    assert [r for r in by_energy if "kWh" not in r]  # values are shown as plain numbers
    energies = [re.search(r"\b(\d+\.\d\d)\b", r)[1] for r in by_energy]
    assert energies == ["1.00", "2.00", "3.00", "4.00"]


def test_sessions_csv_export_holds_the_filtered_rows(client, manager_a, sessions):
    client.force_login(manager_a)
    response = client.get(
        url("charger-sessions", "CP-PAGE"), {"state": "completed", "_export": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="CP-PAGE-sessions.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 4
    assert sorted(r["Id tag"] for r in rows) == ["TAG0", "TAG1", "TAG2", "TAG3"]
    assert sorted(r["Energy (kWh)"] for r in rows) == ["1.000", "2.000", "3.000", "4.000"]
    assert {r["Duration"] for r in rows} == {"1800"}
    assert {r["State"] for r in rows} == {"completed"}
    assert next(r for r in rows if r["Id tag"] == "TAG3")["Vehicle / person / token"] == (
        "Grace Hopper"
    )
    # No markup in the export.
    assert "<" not in response.content.decode()


def test_sessions_export_of_another_organization_is_not_found(client, manager_a, org_b):
    factories.ChargerFactory(charge_point_id="CP-B", zone__property__organization=org_b)
    client.force_login(manager_a)
    response = client.get(url("charger-sessions", "CP-B"), {"_export": "csv"})
    assert response.status_code == 404


# --- OCPP log ---------------------------------------------------------------------------


@pytest.fixture
def messages_log(charger):
    now = timezone.now()
    rows = [
        OcppMessage(
            charger=charger,
            direction=OcppMessage.Direction.IN,
            message_type=OcppMessage.MessageType.CALL,
            action="Heartbeat",
            message_id=f"hb-{n}",
            frame=f'[2,"hb-{n}","Heartbeat",{{}}]',
            at=now - timedelta(minutes=200 - n),
        )
        for n in range(120)
    ]
    rows.append(
        OcppMessage(
            charger=charger,
            direction=OcppMessage.Direction.IN,
            message_type=OcppMessage.MessageType.CALL,
            action="StatusNotification",
            message_id="sn-1",
            frame='[2,"sn-1","StatusNotification",{"connectorId":1,"errorCode":"GroundFailure"}]',
            at=now - timedelta(minutes=1),
        )
    )
    rows.append(
        OcppMessage(
            charger=charger,
            direction=OcppMessage.Direction.OUT,
            message_type=OcppMessage.MessageType.RESULT,
            action="StatusNotification",
            message_id="sn-1",
            frame='[3,"sn-1",{}]',
            at=now,
        )
    )
    OcppMessage.objects.bulk_create(rows)
    return rows


def test_message_log_is_paginated_newest_first(client, manager_a, messages_log):
    client.force_login(manager_a)
    page = client.get(url("charger-messages", "CP-PAGE")).content.decode()
    rows = rows_of(page)
    assert len(rows) == MESSAGES_PER_PAGE
    assert rows[0].startswith(timezone.localtime(messages_log[-1].at).strftime("%Y-%m-%d %H:%M"))
    assert "[3,&quot;sn-1&quot;,{}]" in page or '[3,"sn-1",{}]' in rows[0]
    last = client.get(url("charger-messages", "CP-PAGE"), {"page": 3}).content.decode()
    assert len(rows_of(last)) == len(messages_log) - 2 * MESSAGES_PER_PAGE


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "statusnotification"}, 2),  # an action, any case
        ({"q": "hb-119"}, 1),  # a message id
        ({"q": "hb-7"}, 11),  # and text of the frame: hb-7, hb-70 … hb-79
        ({"q": "GroundFailure"}, 1),  # text of the frame
        ({"q": "StatusNotification", "direction": "out"}, 1),
        ({"message_type": "3"}, 1),
        ({"q": "no such thing"}, 0),
    ],
)
def test_message_log_search(client, manager_a, messages_log, params, expected):
    client.force_login(manager_a)
    page = client.get(url("charger-messages", "CP-PAGE"), params).content.decode()
    rows = [r for r in rows_of(page) if "No OCPP messages match" not in r]
    assert len(rows) == expected


def test_message_log_csv_export_has_the_full_frames(client, manager_a, messages_log, org_b):
    other = factories.ChargerFactory(zone__property__organization=org_b)
    OcppMessage.objects.create(
        charger=other,
        direction="in",
        action="StatusNotification",
        frame="theirs",
        at=timezone.now(),
    )
    client.force_login(manager_a)
    response = client.get(
        url("charger-messages", "CP-PAGE"), {"q": "StatusNotification", "_export": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["Direction"], r["Type"], r["Message id"]) for r in rows] == [
        ("out", "Result", "sn-1"),
        ("in", "Call", "sn-1"),
    ]
    assert rows[1]["Frame"] == (
        '[2,"sn-1","StatusNotification",{"connectorId":1,"errorCode":"GroundFailure"}]'
    )
    assert "theirs" not in response.content.decode()


# --- configuration and firmware ------------------------------------------------------------


def test_configuration_shows_the_latest_answered_read(client, manager_a, charger):
    def read(minutes_ago: int, keys: list[dict], outcome=CommandLog.Outcome.ANSWERED):
        return CommandLog.objects.create(
            charger=charger,
            command="get-configuration",
            source=CommandLog.Source.API,
            outcome=outcome,
            status="Accepted",
            response={"status": "Accepted", "configuration": keys, "unknown_keys": ["Nope"]},
            answered_at=timezone.now() - timedelta(minutes=minutes_ago),
        )

    read(60, [{"key": "HeartbeatInterval", "value": "900", "readonly": False}])
    read(
        5,
        [
            {"key": "HeartbeatInterval", "value": "300", "readonly": False},
            {"key": "ChargePointModel", "value": "Pulsar", "readonly": True},
        ],
    )
    CommandLog.objects.create(
        charger=charger,
        command="get-configuration",
        source=CommandLog.Source.API,
        outcome=CommandLog.Outcome.TIMEOUT,
    )
    ChargerEvent.objects.create(
        charger=charger, kind=ChargerEvent.Kind.FIRMWARE_STATUS, summary="Downloading"
    )
    ChargerEvent.objects.create(
        charger=charger, kind=ChargerEvent.Kind.FIRMWARE_STATUS, summary="Installed"
    )
    client.force_login(manager_a)

    page = client.get(url("charger-configuration", "CP-PAGE")).content.decode()

    config = text_of(re.search(r'id="config-heading".*?</section>', page, re.S)[0])
    assert "ChargePointModel Pulsar yes HeartbeatInterval 300 no" in config
    assert "900" not in config
    assert "Unknown keys: Nope" in config
    firmware = text_of(re.search(r'id="firmware-heading".*?</section>', page, re.S)[0])
    assert "Version 5.17.2" in firmware
    assert "Latest status Installed" in firmware
    assert firmware.index("Installed") < firmware.index("Downloading")


def test_configuration_without_a_read_says_so(client, manager_a, charger):
    client.force_login(manager_a)
    page = client.get(url("charger-configuration", "CP-PAGE")).content.decode()
    assert "has not reported its configuration yet" in page
    assert 'data-hand="read-configuration"' in page


def test_sessions_filter_by_start_date(client, manager_a, sessions):
    client.force_login(manager_a)
    page_url = url("charger-sessions", "CP-PAGE")
    first_day = timezone.localdate(sessions[0].started_at)
    on_first_day = {s.id_tag for s in sessions if timezone.localdate(s.started_at) == first_day}
    later = {s.id_tag for s in sessions} - on_first_day

    def tags(**params):
        rows = rows_of(client.get(page_url, params).content.decode())
        return {re.search(r"\b(TAG\d|LIVE-TAG)\b", r)[1] for r in rows}

    assert tags(started_from=first_day, started_until=first_day) == on_first_day
    assert tags(started_from=first_day + timedelta(days=1)) == later
    assert "LIVE-TAG" in later


def test_message_log_export_is_capped_after_sorting(client, manager_a, messages_log, monkeypatch):
    monkeypatch.setattr("apps.monitoring.views.charger.EXPORT_MAX_ROWS", 3)
    client.force_login(manager_a)
    response = client.get(url("charger-messages", "CP-PAGE"), {"_export": "csv", "sort": "at"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["Message id"] for r in rows] == ["hb-0", "hb-1", "hb-2"]


def test_a_long_frame_folds_to_a_preview_that_opens_to_the_whole_frame(client, manager_a, charger):
    frame = '[2,"big","DataTransfer",{"vendorId":"X","data":"' + "A" * 500 + '"}]'
    OcppMessage.objects.create(
        charger=charger, direction="in", action="DataTransfer", frame=frame, at=timezone.now()
    )
    client.force_login(manager_a)
    page = client.get(url("charger-messages", "CP-PAGE")).content.decode()
    cell = re.search(r'<details class="frame">.*?</details>', page, re.S)[0]
    summary = re.search(r"<summary><code>(.*?)</code></summary>", cell, re.S)[1]
    assert html.unescape(summary) == frame[:FRAME_PREVIEW_CHARS] + "…"
    whole = re.search(r"</summary><code>(.*?)</code>", cell, re.S)[1]
    assert html.unescape(whole) == frame


def test_charger_live_fragment_follows_the_connection_and_the_connectors(
    client, manager_a, charger
):
    client.force_login(manager_a)
    live_url = url("charger-live", "CP-PAGE")

    first = client.get(live_url)
    etag = first["ETag"]
    header = text_of(
        re.search(r'<header class="charger-head">.*?</header>', first.content.decode(), re.S)[0]
    )
    assert "CP-PAGE" in header and "Online" in header
    assert client.get(live_url, headers={"if-none-match": etag}).status_code == 304

    # The charger drops its socket: the header says so, the connectors are offline.
    charger.channel_name = ""
    charger.disconnected_at = timezone.now()
    charger.save()
    gone = client.get(live_url, headers={"if-none-match": etag})
    assert gone.status_code == 200
    page = gone.content.decode()
    header = text_of(re.search(r'<header class="charger-head">.*?</header>', page, re.S)[0])
    assert "Offline" in header and "Disconnected 0 s ago" in header
    assert page.count('data-state="offline"') == 2

    # A heartbeat alone changes the header too (its "last heartbeat").
    etag = gone["ETag"]
    charger.last_seen_at = timezone.now()
    charger.save()
    assert client.get(live_url, headers={"if-none-match": etag}).status_code == 200


def test_configuration_of_a_201_charger_comes_from_its_base_report(client, manager_a, make_charger):
    charger = make_charger("CP-201", ocpp_version="2.0.1")
    CommandLog.objects.create(
        charger=charger,
        command="get-configuration",
        source=CommandLog.Source.DASHBOARD,
        outcome=CommandLog.Outcome.ANSWERED,
        status="Accepted",
        response={"status": "Accepted", "report_request_id": 77},
        answered_at=timezone.now(),
    )

    def report(request_id: int, seq_no: int, data: list[dict]) -> None:
        ChargerEvent.objects.create(
            charger=charger,
            kind=ChargerEvent.Kind.NOTIFY_REPORT,
            summary=f"Report {request_id} part {seq_no}",
            payload={
                "requestId": request_id,
                "seqNo": seq_no,
                "generatedAt": "2030-01-01T00:00:00Z",
                "reportData": data,
            },
        )

    report(
        77,
        0,
        [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [
                    {"type": "Actual", "value": "300", "mutability": "ReadWrite"}
                ],
            },
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power", "instance": "Max"},
                "variableAttribute": [
                    {"type": "Target", "value": "1"},
                    {"type": "Actual", "value": "22000", "mutability": "ReadOnly"},
                ],
            },
        ],
    )
    report(
        12,  # another read's report: not this one
        0,
        [
            {
                "component": {"name": "Old"},
                "variable": {"name": "Key"},
                "variableAttribute": [{"value": "x"}],
            }
        ],
    )
    client.force_login(manager_a)

    page = client.get(url("charger-configuration", "CP-201")).content.decode()

    config = text_of(re.search(r'id="config-heading".*?</section>', page, re.S)[0])
    assert "EVSE.Power[Max] 22000 yes OCPPCommCtrlr.HeartbeatInterval 300 no" in config
    assert "Old.Key" not in config


def test_a_command_without_the_csrf_token_is_refused(manager_a, charger):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_a)
    response = client.post(url("charger-command", "CP-PAGE", hand="reset"), {"type": "hard"})
    assert response.status_code == 403
    assert not CommandLog.objects.exists()


def test_a_user_manages_one_organization_and_only_views_another(client, org_a, org_b, charger):
    user = factories.UserFactory(username="mixed")
    factories.MembershipFactory(user=user, organization=org_a, role="property_manager")
    factories.MembershipFactory(user=user, organization=org_b, role="viewer")
    theirs = factories.ChargerFactory(
        charge_point_id="CP-VIEWED", zone__property__organization=org_b
    )
    factories.ConnectorFactory(charger=theirs)
    client.force_login(user)

    managed = client.get(url("charger", "CP-PAGE")).content.decode()
    viewed = client.get(url("charger", "CP-VIEWED"))
    assert 'data-hand="reset"' in managed
    assert viewed.status_code == 200
    assert 'data-hand="' not in viewed.content.decode()
    response = client.post(url("charger-command", "CP-VIEWED", hand="reset"), {"type": "soft"})
    assert response.status_code == 403
    assert not CommandLog.objects.exists()
    dashboard = client.get(reverse("monitoring:dashboard")).content.decode()
    assert 'data-charger="CP-PAGE"' in dashboard and 'data-charger="CP-VIEWED"' in dashboard
