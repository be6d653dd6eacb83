"""The live dashboard: login, tenancy, what each connector shows, alerts, filters,
the live fragment and its cost."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.chargers.models import Connector
from apps.monitoring.models import Alert, AlertRule
from tests import factories
from tests.monitoring.dashboard.conftest import start_session

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("monitoring:dashboard")
LIVE = reverse("monitoring:dashboard-live")


def connector_html(page: str, charge_point_id: str, connector_id: int) -> str:
    """The markup of one connector of one charger card."""
    card = re.search(
        rf'<article[^>]*data-charger="{re.escape(charge_point_id)}".*?</article>', page, re.S
    )
    assert card, f"no card for {charge_point_id}"
    item = re.search(
        rf'<li class="connector[^"]*" data-connector="{connector_id}".*?</li>', card[0], re.S
    )
    assert item, f"no connector {connector_id} on {charge_point_id}"
    return item[0]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def open_alert(charger, *, connector=None, title="Connector faulted", severity="critical"):
    return Alert.objects.create(
        organization=charger.zone.property.organization,
        kind=AlertRule.Kind.CONNECTOR_FAULTED if connector else AlertRule.Kind.CHARGER_OFFLINE,
        charger=charger,
        connector=connector,
        title=title,
        severity=severity,
        opened_at=timezone.now(),
    )


def test_dashboard_requires_login(client):
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response.url == f"{reverse('admin:login')}?next={DASHBOARD}"
    assert client.get(LIVE).status_code == 302


def test_site_root_leads_to_the_dashboard_and_the_admin_links_back(client, manager_a):
    client.force_login(manager_a)
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == DASHBOARD
    page = client.get(DASHBOARD).content.decode()
    assert f'href="{reverse("admin:index")}"' in page
    admin_page = client.get(reverse("admin:index")).content.decode()
    assert f'href="{DASHBOARD}">Live status</a>' in admin_page


def test_dashboard_shows_each_connector_state_and_the_charging_session(
    client, manager_a, make_charger, org_a
):
    charging = make_charger(
        "CP-CHARGING", statuses=(Connector.Status.CHARGING, Connector.Status.AVAILABLE)
    )
    person = factories.PersonFactory(organization=org_a, first_name="Ada", last_name="Byron")
    vehicle = factories.VehicleFactory(organization=org_a, license_plate="EV-123")
    start_session(charging, person=person, vehicle=vehicle, power_w=7200, energy_wh=3450, soc=63)
    make_charger("CP-FAULTED", statuses=(Connector.Status.FAULTED,))
    make_charger("CP-SUSP", statuses=(Connector.Status.SUSPENDED_EV,))
    make_charger("CP-PREP", statuses=(Connector.Status.PREPARING,))
    make_charger("CP-UNAV", statuses=(Connector.Status.UNAVAILABLE,))
    # Its connector last said Charging, but the charger is not connected now.
    make_charger("CP-GONE", online=False, statuses=(Connector.Status.CHARGING,))
    client.force_login(manager_a)

    page = client.get(DASHBOARD).content.decode()

    first = connector_html(page, "CP-CHARGING", 1)
    assert 'data-state="charging"' in first
    text = text_of(first)
    assert "Charging" in text
    assert "Volkswagen ID.4 EV-123 · Ada Byron" in text
    assert "7.2 kW" in text
    assert "3.45 kWh" in text
    assert "63 %" in text
    assert "Plugged in for 42 min" in text
    assert 'data-state="available"' in connector_html(page, "CP-CHARGING", 2)
    assert "For 10 min" in text_of(connector_html(page, "CP-CHARGING", 2))
    expected = {
        "CP-FAULTED": "faulted",
        "CP-SUSP": "suspended",
        "CP-PREP": "preparing",
        "CP-UNAV": "unavailable",
        "CP-GONE": "offline",
    }
    for charge_point_id, state in expected.items():
        assert f'data-state="{state}"' in connector_html(page, charge_point_id, 1), charge_point_id
    assert "last said charging" in text_of(connector_html(page, "CP-GONE", 1))
    # Grouped property → zone, the property with what it draws now.
    assert page.index("Maple Court") < page.index("Garage") < page.index("CP-CHARGING")
    load = text_of(re.search(r'<p class="property-load".*?</p>', page, re.S)[0])
    assert load == "7.2 kW now of 150 kW grid limit · 1 of 7 connectors charging"


def test_dashboard_counts_connectors_by_state(client, manager_a, make_charger):
    make_charger("CP-1", statuses=(Connector.Status.AVAILABLE, Connector.Status.AVAILABLE))
    make_charger("CP-2", statuses=(Connector.Status.FAULTED,))
    make_charger("CP-3", online=False, statuses=(Connector.Status.AVAILABLE,))
    client.force_login(manager_a)

    page = client.get(DASHBOARD).content.decode()

    counts = dict(re.findall(r'data-state-count="(\w+)">(\d+)<', page))
    assert counts["available"] == "2"
    assert counts["faulted"] == "1"
    assert counts["offline"] == "1"
    assert counts["charging"] == "0"


def test_dashboard_never_shows_another_organizations_chargers_or_alerts(
    client, manager_a, make_charger, org_b
):
    mine = make_charger("CP-MINE")
    theirs = factories.ChargerFactory(
        charge_point_id="CP-THEIRS", zone__property__organization=org_b, channel_name="x"
    )
    factories.ConnectorFactory(charger=theirs, connector_id=1)
    open_alert(theirs, title="Their charger is offline")
    open_alert(mine, title="My charger is offline")
    client.force_login(manager_a)

    for url in (DASHBOARD, LIVE):
        page = client.get(url).content.decode()
        assert "CP-MINE" in page
        assert "My charger is offline" in page
        assert "CP-THEIRS" not in page
        assert "Their charger is offline" not in page
    # Not even through the property filter.
    theirs_property = theirs.zone.property_id
    page = client.get(DASHBOARD, {"property": theirs_property}).content.decode()
    assert "CP-THEIRS" not in page
    assert "CP-MINE" not in page


def test_open_alerts_show_on_their_charger_and_in_the_list(client, manager_a, make_charger):
    charger = make_charger("CP-ALERT", statuses=(Connector.Status.FAULTED,))
    connector = charger.connectors.get()
    open_alert(charger, connector=connector, title="Connector 1 faulted: GroundFailure")
    resolved = open_alert(charger, title="Was offline", severity="warning")
    resolved.status = Alert.Status.RESOLVED
    resolved.resolved_at = timezone.now()
    resolved.save()
    client.force_login(manager_a)

    page = client.get(DASHBOARD).content.decode()

    assert "Connector 1 faulted: GroundFailure" in connector_html(page, "CP-ALERT", 1)
    panel = re.search(r'<aside class="board-side alerts-panel".*?</aside>', page, re.S)[0]
    assert "Connector 1 faulted: GroundFailure" in panel
    assert reverse("monitoring:charger", args=["CP-ALERT"]) in panel
    assert "Was offline" not in page
    assert '<span class="count-badge">1</span>' in panel


def test_dashboard_filters_by_state_property_and_text(
    client, manager_a, make_charger, org_a, zone_a
):
    other_zone = factories.ZoneFactory(
        name="Visitors", property=factories.PropertyFactory(organization=org_a, name="Oak Plaza")
    )
    make_charger("CP-OK", statuses=(Connector.Status.AVAILABLE,))
    make_charger("CP-BAD", statuses=(Connector.Status.FAULTED,), name="Bay 7")
    make_charger("CP-OAK", zone=other_zone)
    client.force_login(manager_a)

    def shown(**params):
        page = client.get(DASHBOARD, params).content.decode()
        return set(re.findall(r'data-charger="([\w-]+)"', page))

    assert shown() == {"CP-OK", "CP-BAD", "CP-OAK"}
    assert shown(state="faulted") == {"CP-BAD"}
    assert shown(property=other_zone.property_id) == {"CP-OAK"}
    assert shown(q="bay 7") == {"CP-BAD"}
    assert shown(q="nothing like it") == set()


def test_live_fragment_answers_not_modified_until_something_changes(
    client, manager_a, make_charger
):
    charger = make_charger("CP-LIVE")
    client.force_login(manager_a)

    first = client.get(LIVE)
    assert first.status_code == 200
    etag = first["ETag"]
    assert 'data-charger="CP-LIVE"' in first.content.decode()
    # The fragment is the live part only, not a whole page.
    assert "<html" not in first.content.decode()

    unchanged = client.get(LIVE, headers={"if-none-match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""

    charger.connectors.update(status=Connector.Status.FAULTED, status_at=timezone.now())
    changed = client.get(LIVE, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert 'data-state="faulted"' in changed.content.decode()


def test_the_page_and_its_fragment_share_the_filters(client, manager_a, make_charger):
    make_charger("CP-OK")
    make_charger("CP-BAD", statuses=(Connector.Status.FAULTED,))
    client.force_login(manager_a)

    page = client.get(DASHBOARD, {"state": "faulted"}).content.decode()
    assert f'data-live-url="{LIVE}?state=faulted"' in page
    fragment = client.get(LIVE, {"state": "faulted"}).content.decode()
    assert "CP-BAD" in fragment
    assert "CP-OK" not in fragment


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_dashboard_query_count_does_not_grow_with_the_chargers(
    client, manager_a, make_charger, org_a
):
    def add(n: int) -> None:
        for i in range(n):
            charger = make_charger(
                f"CP-{add.count:03d}",
                statuses=(Connector.Status.CHARGING, Connector.Status.AVAILABLE),
            )
            add.count += 1
            session = start_session(charger, person=factories.PersonFactory(organization=org_a))
            open_alert(charger, connector=session.connector, title=f"Alert {i}")

    add.count = 0
    add(2)
    client.force_login(manager_a)
    client.get(DASHBOARD)  # warm the session and the user's caches
    small = (_queries(client, DASHBOARD), _queries(client, LIVE))

    add(12)
    large = (_queries(client, DASHBOARD), _queries(client, LIVE))

    assert large == small, (small, large)
    assert small[0] < 15
    page = client.get(DASHBOARD).content.decode()
    assert page.count('data-state="charging"') == 14


def test_the_alert_list_shows_the_newest_and_counts_the_rest(
    client, manager_a, make_charger, monkeypatch
):
    monkeypatch.setattr("apps.monitoring.selectors.dashboard.ALERTS_LISTED", 2)
    for n in range(3):
        charger = make_charger(f"CP-A{n}")
        alert = open_alert(charger, title=f"Offline {n}")
        Alert.objects.filter(pk=alert.pk).update(
            opened_at=timezone.now() - timedelta(minutes=10 - n)
        )
    client.force_login(manager_a)

    page = client.get(DASHBOARD).content.decode()

    panel = re.search(r'<aside class="board-side alerts-panel".*?</aside>', page, re.S)[0]
    assert re.findall(r"Offline \d", panel) == ["Offline 2", "Offline 1"]
    assert "And 1 older open alerts" in panel
    assert '<span class="count-badge">3</span>' in panel
    assert "Offline 0" in connector_free_card(page, "CP-A0")


def connector_free_card(page: str, charge_point_id: str) -> str:
    return re.search(
        rf'<article[^>]*data-charger="{re.escape(charge_point_id)}".*?</article>', page, re.S
    )[0]


# A frozen clock: cards are cached per minute, and a minute must not end mid-test.
@time_machine.travel(datetime(2030, 1, 1, 12, 0, 5, tzinfo=UTC), tick=False)
def test_only_changed_cards_are_rendered_again(client, manager_a, make_charger):
    make_charger("CP-SAME")
    changing = make_charger("CP-CHANGES")
    client.force_login(manager_a)

    def cards_rendered() -> int:
        response = client.get(LIVE)
        assert response.status_code == 200
        names = [t.name for t in response.templates]
        return names.count("monitoring/dashboard/_charger_card.html")

    assert cards_rendered() == 2
    changing.connectors.update(status=Connector.Status.FAULTED)
    assert cards_rendered() == 1
    assert cards_rendered() == 0
