"""Charts: the session's curves read from meter samples, and their SVG drawing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.chargers.models import ChargingSession, Connector, MeterSample
from apps.chargers.selectors import POWER_IMPORT, STATE_OF_CHARGE
from apps.chargers.services import ENERGY_REGISTER
from apps.monitoring import charts
from apps.monitoring.selectors.charger_page import session_series
from tests import factories

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: object) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 (our own markup, made in the test)


def test_nice_max_rounds_up_to_a_readable_axis():
    assert charts.nice_max(0) == 1.0
    assert charts.nice_max(7.2) == 10.0
    assert charts.nice_max(11) == 20.0
    assert charts.nice_max(22) == 25.0
    assert charts.nice_max(0.34) == 0.5
    assert charts.nice_max(100) == 100.0


def _chart(points_power, points_soc=(), title="Session 1"):
    return charts.session_chart(
        [
            charts.Series("Power", "kW", points_power, "power", steps=True),
            charts.Series("State of charge", "%", list(points_soc), "soc", floor_max=100),
        ],
        title=title,
    )


def test_session_chart_is_well_formed_svg_with_one_line_per_series():
    t0 = timezone.now()
    power = [(t0 + timedelta(minutes=m), kw) for m, kw in ((0, 0.0), (5, 7.2), (10, 3.6))]
    soc = [(t0, 40.0), (t0 + timedelta(minutes=10), 52.0)]

    svg = parse(_chart(power, soc))

    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Session 1"
    lines = svg.findall(f".//{SVG}polyline")
    assert len(lines) == 2
    power_points = lines[0].get("points").split()
    # Steps: each new value starts where the previous one held, and the last holds
    # to the end of the axis.
    assert len(power_points) == 2 * len(power)
    xs = [float(p.split(",")[0]) for p in power_points]
    assert xs == sorted(xs)
    assert xs[0] == charts.LEFT and xs[-1] == charts.WIDTH - charts.RIGHT
    # The power panel's axis goes to 10 kW, the SoC panel's to 100 %.
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert "10" in ticks and "100" in ticks
    description = svg.find(f"{SVG}desc").text
    assert "Power: 3 readings, latest 3.6 kW, highest 7.2 kW" in description
    assert "State of charge: 2 readings, latest 52 %" in description


def test_session_chart_draws_the_highest_value_at_the_top_of_its_panel():
    t0 = timezone.now()
    svg = parse(_chart([(t0, 0.0), (t0 + timedelta(minutes=1), 10.0)]))
    points = svg.findall(f".//{SVG}polyline")[0].get("points").split()
    ys = [float(p.split(",")[1]) for p in points]
    assert max(ys) == charts.TOP + charts.PANEL_HEIGHT  # 0 kW at the bottom
    assert min(ys) == charts.TOP  # 10 kW at the top


def test_session_chart_says_no_data_and_escapes_text():
    svg_text = str(_chart([], title='<script>alert("x")</script>'))
    assert "<script>" not in svg_text
    svg = parse(svg_text)
    assert svg.find(f"{SVG}title").text == '<script>alert("x")</script>'
    no_data = [t for t in svg.iter(f"{SVG}text") if t.get("class") == "no-data"]
    assert len(no_data) == 2
    assert not svg.findall(f".//{SVG}polyline")


@pytest.mark.django_db
def test_session_series_reads_power_energy_and_soc_from_the_samples():
    session = factories.ChargingSessionFactory(meter_start_wh=10_000)
    t0 = session.started_at

    def sample(seconds, measurand, value, unit="", phase="", location=""):
        MeterSample.objects.create(
            charger=session.charger,
            connector_id=1,
            session=session,
            sampled_at=t0 + timedelta(seconds=seconds),
            measurand=measurand,
            value=Decimal(value),
            unit=unit,
            phase=phase,
            location=location,
        )

    # A total at 0 s; per-line values at 60 s (summed); kW and a duplicate at the
    # inlet at 120 s (the outlet wins).
    sample(0, POWER_IMPORT, "7000", "W")
    for line in ("L1-N", "L2-N", "L3-N"):
        sample(60, POWER_IMPORT, "2400", "W", phase=line)
    sample(120, POWER_IMPORT, "3.6", "kW")
    sample(120, POWER_IMPORT, "3.9", "kW", location="Inlet")
    sample(0, ENERGY_REGISTER, "10000", "Wh")
    sample(60, ENERGY_REGISTER, "10.12", "kWh")
    sample(120, ENERGY_REGISTER, "10240", "Wh")
    sample(0, STATE_OF_CHARGE, "40", "Percent")
    sample(120, STATE_OF_CHARGE, "42", "Percent")

    series = session_series(session=session)

    assert [v for _, v in series.power_kw] == [7.0, 7.2, 3.6]
    assert [v for _, v in series.energy_kwh] == [0.0, 0.12, 0.24]
    assert [v for _, v in series.soc_percent] == [40.0, 42.0]
    assert [at for at, _ in series.power_kw] == [
        t0,
        t0 + timedelta(seconds=60),
        t0 + timedelta(seconds=120),
    ]


@pytest.mark.django_db
def test_session_series_thins_long_sessions_keeping_both_ends():
    session = factories.ChargingSessionFactory()
    t0 = session.started_at
    MeterSample.objects.bulk_create(
        MeterSample(
            charger=session.charger,
            connector_id=1,
            session=session,
            sampled_at=t0 + timedelta(seconds=10 * n),
            measurand=POWER_IMPORT,
            value=Decimal(n),
            unit="W",
        )
        for n in range(1000)
    )
    series = session_series(session=session, max_points=100)
    assert len(series.power_kw) == 100
    assert series.power_kw[0][1] == 0.0
    assert series.power_kw[-1][1] == 0.999


@pytest.mark.django_db
def test_charger_page_draws_the_chosen_sessions_chart(client, manager_a, make_charger):
    charger = make_charger("CP-CHART", statuses=(Connector.Status.AVAILABLE,))
    connector = charger.connectors.get()
    t0 = timezone.now() - timedelta(days=1)
    old = factories.ChargingSessionFactory(
        connector=connector,
        charger=charger,
        ocpp_transaction_id="101",
        started_at=t0,
        stopped_at=t0 + timedelta(hours=1),
        state=ChargingSession.State.COMPLETED,
        meter_start_wh=0,
        meter_stop_wh=5000,
    )
    newer = factories.ChargingSessionFactory(
        connector=connector,
        charger=charger,
        ocpp_transaction_id="102",
        started_at=t0 + timedelta(hours=2),
        stopped_at=t0 + timedelta(hours=3),
        state=ChargingSession.State.COMPLETED,
    )
    for minutes in (0, 30, 60):
        MeterSample.objects.create(
            charger=charger,
            connector_id=1,
            session=old,
            sampled_at=t0 + timedelta(minutes=minutes),
            measurand=POWER_IMPORT,
            value=Decimal(11000),
            unit="W",
        )
    client.force_login(manager_a)
    page_url = reverse("monitoring:charger", args=["CP-CHART"])

    latest = client.get(page_url).content.decode()
    assert "Session 102 on connector 1" in latest
    assert latest.count('class="no-data"') == 3

    chosen = client.get(page_url, {"session": old.pk}).content.decode()
    assert "Session 101 on connector 1" in chosen
    assert "Power: 3 readings, latest 11 kW" in chosen
    assert f'<option value="{newer.pk}"' in chosen
    # A session of another charger is not drawn here.
    elsewhere = factories.ChargingSessionFactory(ocpp_transaction_id="999")
    assert "Session 999" not in client.get(page_url, {"session": elsewhere.pk}).content.decode()
