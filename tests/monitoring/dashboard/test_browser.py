"""The browser test of issue 4: Playwright drives Debian's chromium against the
running server of the `ocpp_server` fixture (daphne serves the pages too). A manager
logs in, opens the dashboard, a charger on a real websocket starts charging and the
page shows it without a reload (only that charger's card is replaced); then the
manager opens the charger page, presses Reset, the charger receives Reset and the
page shows its answer; when the charger disconnects, the page shows it offline.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Without it
the test skips and says how to get it, except under CI, where it fails."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

# The test charger speaks OCPP like those of tests/ocpp_consumer (which may import
# the package): the ban keeps it out of the application, not out of test stations.
from ocpp.v16 import call as c16  # noqa: TID251

from apps.chargers.models import CommandLog
from apps.sites.models import Membership
from tests import factories
from tests.ocpp_consumer.conftest import run
from tests.ocpp_consumer.test_commands_e2e import charger_online

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
WAIT_MS = 15_000


# What a browser does when its tab is hidden or shown again.
SET_HIDDEN = """(hidden) => {
    Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = "chromium not installed: `make test` installs Debian's chromium"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


async def serve_static(route: Any) -> None:
    """Answer the page's static files from the project's own files. The test server
    runs with DEBUG off and no collectstatic, so WhiteNoise has nothing to serve;
    production serves the same files from STATIC_ROOT."""
    path = route.request.url.split("/static/", 1)[1].split("?", 1)[0]
    found = finders.find(path)
    if not found:
        await route.fulfill(status=404, body="")
        return
    types = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    await route.fulfill(
        status=200,
        path=found,
        content_type=types.get(Path(found).suffix, "application/octet-stream"),
    )


def ts(minutes_ago: float = 0) -> str:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.fixture
def site(org_a):
    manager = factories.UserFactory(username="pat", first_name="Pat", last_name="Lee")
    factories.MembershipFactory(
        user=manager, organization=org_a, role=Membership.Role.PROPERTY_MANAGER
    )
    zone = factories.ZoneFactory(
        name="Residents' garage",
        property=factories.PropertyFactory(organization=org_a, name="Harbor View"),
    )
    factories.AccessPolicyFactory(zone=zone)  # any valid token of the organization
    person = factories.PersonFactory(organization=org_a, first_name="Ada", last_name="Byron")
    factories.IdTokenFactory(organization=org_a, uid="TAG-ADA", person=person)
    live = factories.ChargerFactory(charge_point_id="PW-1", zone=zone, ocpp_version="1.6")
    quiet = factories.ChargerFactory(charge_point_id="PW-2", zone=zone, ocpp_version="1.6")
    factories.ConnectorFactory(charger=quiet, connector_id=1)
    return {"manager": manager, "live": live, "quiet": quiet}


def test_dashboard_updates_live_and_a_remote_reset_shows_the_answer(ocpp_server, site, settings):
    require_chromium()
    from playwright.async_api import async_playwright, expect

    settings.MONITORING_LIVE_POLL_MS = 500
    base = f"http://127.0.0.1:{ocpp_server.port}"
    result: dict[str, Any] = {}

    async def scenario() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                # Containers run as root, where chromium's sandbox cannot start.
                args=["--no-sandbox", "--disable-dev-shm-usage"],
            )
            try:
                await with_browser(browser)
            finally:
                await browser.close()

    async def with_browser(browser: Any) -> None:
        page = await browser.new_page()
        await page.route(re.compile(r"/static/"), serve_static)
        page.set_default_timeout(WAIT_MS)
        async with charger_online(ocpp_server.url("PW-1"), "PW-1", "1.6") as cp:
            await cp.call(
                c16.BootNotification(
                    charge_point_vendor="Alfen",
                    charge_point_model="Eve Single",
                    firmware_version="6.2.0",
                ),
                suppress=False,
            )
            await cp.call(
                c16.StatusNotification(
                    connector_id=1, error_code="NoError", status="Available", timestamp=ts()
                ),
                suppress=False,
            )

            # Log in: the site root leads to the dashboard through the login.
            await page.goto(base + "/")
            await expect(page).to_have_url(re.compile(r"/admin/login/"))
            await page.fill("#id_username", "pat")
            await page.fill("#id_password", PASSWORD)
            await page.click("input[type=submit]")
            await expect(page).to_have_url(re.compile(r"/dashboard/$"))
            await expect(page.get_by_role("heading", name="Live status")).to_be_visible()

            card = page.locator('[data-charger="PW-1"]')
            connector = card.locator('[data-connector="1"]')
            await expect(card).to_contain_text("Online")
            await expect(connector).to_have_attribute("data-state", "available")
            await expect(page.locator('[data-charger="PW-2"]')).to_contain_text("Offline")
            # Marks that a reload (or a whole-page swap) would wipe out.
            await page.evaluate(
                """() => {
                    window.__sameDocument = true;
                    document.querySelector('[data-charger="PW-2"]').__kept = true;
                    document.querySelector('[data-charger="PW-1"]').__kept = true;
                }"""
            )

            # The charger starts charging, with meter values.
            await cp.call(
                c16.StatusNotification(
                    connector_id=1, error_code="NoError", status="Charging", timestamp=ts()
                ),
                suppress=False,
            )
            start = await cp.call(
                c16.StartTransaction(
                    connector_id=1, id_tag="TAG-ADA", meter_start=20_000, timestamp=ts(12)
                ),
                suppress=False,
            )
            await cp.call(
                c16.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": ts(),
                            "sampledValue": [
                                {
                                    "value": "21.48",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "kWh",
                                },
                                {
                                    "value": "7400",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                },
                                {
                                    "value": "61",
                                    "measurand": "SoC",
                                    "unit": "Percent",
                                    "location": "EV",
                                },
                            ],
                        }
                    ],
                ),
                suppress=False,
            )

            await expect(connector).to_have_attribute("data-state", "charging")
            await expect(connector).to_contain_text("Charging")
            await expect(connector).to_contain_text("Ada Byron")
            await expect(connector).to_contain_text("7.4 kW")
            await expect(connector).to_contain_text("1.48 kWh")
            await expect(connector).to_contain_text("61 %")
            await expect(connector).to_contain_text(re.compile(r"Plugged in for 1[12] min"))
            await expect(page.locator('[data-state-count="charging"]')).to_have_text("1")
            result["same_document"] = await page.evaluate("() => window.__sameDocument")
            result["kept"] = await page.evaluate(
                """() => [
                    document.querySelector('[data-charger="PW-1"]').__kept === true,
                    document.querySelector('[data-charger="PW-2"]').__kept === true,
                ]"""
            )
            result["announced"] = await page.locator("[data-live-announce]").text_content()
            live_status = await page.locator("[data-live-status]").text_content()
            result["live_status"] = live_status

            # The charger page: press Reset (it asks for confirmation first).
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await card.get_by_role("link", name="PW-1").click()
            await expect(page.get_by_role("heading", name="PW-1")).to_be_visible()
            await expect(page.locator(".charger-head")).to_contain_text("Eve Single")
            await expect(page.locator(".charger-head")).to_contain_text("6.2.0")
            reset = page.locator('form[data-hand="reset"]')
            await reset.get_by_label("Type").select_option("soft")
            await reset.get_by_role("button", name="Reset").click()
            await expect(page.locator("#messages")).to_contain_text(
                "Reset: the charger answered Accepted."
            )
            await expect(page.locator('[data-connector="1"]')).to_have_attribute(
                "data-state", "charging"
            )
            result["received"] = list(cp.received)
            await expect(page.locator(".charger-head")).to_contain_text("Online")
            await page.evaluate("() => { window.__samePage = true; }")

        # The charger goes away: the page says so without a reload.
        header = page.locator(".charger-head")
        await expect(header).to_contain_text("Offline")
        await expect(page.locator('[data-connector="1"]')).to_have_attribute(
            "data-state", "offline"
        )
        result["still_same_page"] = await page.evaluate("() => window.__samePage === true")

    run(scenario(), timeout=120)

    # Updated in place: no reload, only the charger that changed was replaced.
    assert result["same_document"] is True
    assert result["kept"] == [False, True]
    assert result["live_status"].startswith("Live: updated")
    # Screen readers hear the change of state, once.
    assert result["announced"] == "PW-1 connector 1: Charging."
    assert result["received"] == [("Reset", {"type": "Soft"})]
    assert result["still_same_page"] is True
    log = CommandLog.objects.get()
    assert (log.command, log.source, log.status) == ("reset", "dashboard", "Accepted")
    assert log.issued_by == site["manager"]


def test_without_chromium_the_browser_test_skips_saying_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make test` installs Debian's chromium"):
        require_chromium()


def test_without_chromium_under_ci_the_browser_test_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium not installed"):
        require_chromium()


def test_polling_pauses_while_the_tab_is_hidden(ocpp_server, manager_a, make_charger, settings):
    """The page asks for the live fragment every interval while visible, never while
    hidden, and at once when shown again."""
    require_chromium()
    from django.conf import settings as django_settings
    from django.test import Client
    from playwright.async_api import async_playwright, expect

    settings.MONITORING_LIVE_POLL_MS = 300
    make_charger("HIDE-1", online=False)
    client = Client()
    client.force_login(manager_a)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    base = f"http://127.0.0.1:{ocpp_server.port}"
    polls: list[float] = []
    result: dict[str, Any] = {}

    async def scenario() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
            )
            try:
                context = await browser.new_context()
                await context.add_cookies(
                    [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}]
                )
                page = await context.new_page()
                await page.route(re.compile(r"/static/"), serve_static)
                loop = asyncio.get_running_loop()
                page.on(
                    "request",
                    lambda request: (
                        polls.append(loop.time()) if "/dashboard/live/" in request.url else None
                    ),
                )
                await page.goto(base + "/dashboard/")
                await expect(page.locator('[data-charger="HIDE-1"]')).to_be_visible()
                await asyncio.sleep(1.5)
                result["visible"] = len(polls)

                await page.evaluate(SET_HIDDEN, True)
                await asyncio.sleep(0.5)  # a poll already on its way may finish
                hidden_from = len(polls)
                await asyncio.sleep(2)
                result["hidden"] = len(polls) - hidden_from

                shown_at = loop.time()
                await page.evaluate(SET_HIDDEN, False)
                await asyncio.sleep(0.2)
                result["first_after_shown"] = next(
                    (t - shown_at for t in polls if t >= shown_at), None
                )
            finally:
                await browser.close()

    run(scenario(), timeout=60)

    assert result["visible"] >= 3  # about every 300 ms
    assert result["hidden"] == 0
    assert result["first_after_shown"] is not None and result["first_after_shown"] < 0.2
