"""Remote commands in the charger admin, in process: who may run them, on which
chargers, and what the pages show. Nothing here needs a connected charger: an
offline charger's command is refused (and logged) before the channel layer.
Commands that reach real chargers through a real server are in
tests/ocpp_consumer/test_admin_commands_e2e.py and test_password_rotation_e2e.py
(the live-server fixtures live in that package's conftest)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.chargers import credentials
from apps.chargers.models import Charger, CommandLog
from apps.sites.models import Membership
from tests import factories

# Transactional: commands reach the database through channels' database_sync_to_async,
# which closes a connection that is inside a transaction (the test's own, on PostgreSQL).
pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = reverse("admin:chargers_charger_changelist")
OLD_PASSWORD = "the-old-password-012345"
ACTIONS = (
    "soft_reset",
    "hard_reset",
    "clear_cache",
    "trigger_boot_notification",
    "trigger_status_notification",
    "trigger_heartbeat",
    "make_available",
    "make_unavailable",
    "unlock_connector_1",
    "rotate_ocpp_password",
)


@pytest.fixture
def viewer(org_a):
    user = factories.UserFactory(username="viewer")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.VIEWER)
    return user


def _charger(org: Any, charge_point_id: str, **kwargs: Any) -> Charger:
    return factories.ChargerFactory(
        charge_point_id=charge_point_id, zone__property__organization=org, **kwargs
    )


def _messages(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def _run(client: Any, action: str, chargers: list[Charger]) -> Any:
    return client.post(CHANGELIST, {"action": action, "_selected_action": [c.pk for c in chargers]})


def test_changelist_offers_every_command_action_to_a_manager(client, manager_a, org_a):
    _charger(org_a, "CP-1")
    client.force_login(manager_a)

    response = client.get(CHANGELIST)

    offered = {name for name, _ in response.context["action_form"].fields["action"].choices}
    assert set(ACTIONS) <= offered


@pytest.mark.parametrize("action", ACTIONS)
def test_viewer_cannot_run_command_actions(client, viewer, org_a, action):
    charger = _charger(org_a, "CP-VIEW")
    client.force_login(viewer)

    listing = client.get(CHANGELIST)
    response = _run(client, action, [charger])

    assert "action_form" not in listing.context or action not in str(listing.content)
    assert response.status_code == 200
    # Not even an "offline" attempt is logged: nothing was tried.
    assert not CommandLog.objects.exists()


@pytest.mark.parametrize("action", ["hard_reset", "rotate_ocpp_password"])
def test_another_organizations_charger_is_not_actionable(client, manager_a, org_b, action):
    theirs = _charger(org_b, "CP-THEIRS")
    client.force_login(manager_a)

    _run(client, action, [theirs])

    assert not CommandLog.objects.exists()


def test_offline_chargers_are_reported_and_viewed_ones_skipped(client, org_a, org_b):
    user = factories.UserFactory(username="mixed")
    factories.MembershipFactory(
        user=user, organization=org_a, role=Membership.Role.PROPERTY_MANAGER
    )
    factories.MembershipFactory(user=user, organization=org_b, role=Membership.Role.VIEWER)
    managed, viewed = _charger(org_a, "CP-MANAGED"), _charger(org_b, "CP-VIEWED")
    client.force_login(user)

    response = client.post(
        CHANGELIST,
        {"action": "clear_cache", "_selected_action": [managed.pk, viewed.pk]},
        follow=True,
    )

    assert ("warning", "CP-MANAGED: offline, the command was not sent.") in _messages(response)
    assert (
        "warning",
        "1 of the selected chargers may not be commanded by you: skipped.",
    ) in _messages(response)
    log = CommandLog.objects.get()
    assert (log.charger, log.command, log.outcome, log.issued_by) == (
        managed,
        "clear-cache",
        "offline",
        user,
    )


def test_rotating_an_offline_chargers_password_keeps_the_old_one(client, manager_a, org_a):
    charger = _charger(org_a, "CP-ROT-OFF")
    charger.password_hash = credentials.hash_password(OLD_PASSWORD)
    charger.save()
    client.force_login(manager_a)

    response = _run(client, "rotate_ocpp_password", [charger])

    assert response.status_code == 302
    charger.refresh_from_db()
    assert credentials.check_password(OLD_PASSWORD, charger.password_hash)
    assert _messages(response) == [
        (
            "warning",
            "CP-ROT-OFF: offline, no new password was sent; the old one stays.",
        )
    ]
    log = CommandLog.objects.get()
    # The attempt is logged, with the password masked.
    assert (log.command, log.params, log.outcome) == (
        "change-configuration",
        {"key": "AuthorizationKey", "value": "***"},
        "offline",
    )


# --- the remote command page ----------------------------------------------------------


def _command_url(charger: Charger) -> str:
    return reverse("admin:chargers_charger_command", args=[charger.pk])


def test_command_page_is_refused_to_a_viewer(client, viewer, org_a):
    charger = _charger(org_a, "CP-PAGE-V")
    client.force_login(viewer)

    assert client.get(_command_url(charger)).status_code == 403
    assert (
        client.post(_command_url(charger), {"command": "reset", "params": "{}"}).status_code == 403
    )
    assert not CommandLog.objects.exists()


def test_command_page_of_another_organizations_charger_does_not_exist(client, manager_a, org_b):
    theirs = _charger(org_b, "CP-PAGE-B")
    client.force_login(manager_a)

    response = client.post(_command_url(theirs), {"command": "reset", "params": "{}"})

    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert not CommandLog.objects.exists()


def test_command_page_sends_to_an_offline_charger_and_says_so(client, manager_a, org_a):
    charger = _charger(org_a, "CP-PAGE-OFF")
    client.force_login(manager_a)

    response = client.post(
        _command_url(charger), {"command": "trigger-message", "params": '{"message": "Heartbeat"}'}
    )

    assert response.status_code == 200
    assert _messages(response) == [("warning", "CP-PAGE-OFF: offline, the command was not sent.")]
    log = CommandLog.objects.get()
    assert (log.command, log.params, log.outcome, log.source) == (
        "trigger-message",
        {"message": "Heartbeat"},
        "offline",
        CommandLog.Source.ADMIN,
    )
    # The attempt shows in the page's list of recent commands at once.
    assert "trigger-message" in response.text


@pytest.mark.parametrize(
    "params",
    [
        '{"key": "AuthorizationKey", "value": "0123456789abcdefXYZ"}',
        '{"key": "SecurityCtrlr.BasicAuthPassword", "value": "0123456789abcdefXYZ"}',
        '{"component": "SecurityCtrlr", "variable": "BasicAuthPassword", "value": "x"}',
        '{"values": {"securityctrlr[1].basicauthpassword": "0123456789abcdefXYZ"}}',
    ],
)
def test_command_page_refuses_to_set_the_password_by_hand(client, manager_a, org_a, params):
    charger = _charger(org_a, "CP-PAGE-PW")
    client.force_login(manager_a)

    response = client.post(
        _command_url(charger), {"command": "change-configuration", "params": params}
    )

    [(level, text)] = _messages(response)
    assert level == "error"
    assert "Rotate OCPP password" in text
    assert "0123456789abcdefXYZ" not in response.text
    assert not CommandLog.objects.exists()


def test_change_page_shows_the_chargers_recent_commands(client, manager_a, org_a):
    charger = _charger(org_a, "LOG-1")
    other = _charger(org_a, "LOG-2")
    CommandLog.objects.create(
        charger=charger,
        command="reset",
        params={"type": "hard"},
        issued_by=manager_a,
        source=CommandLog.Source.ADMIN,
        outcome=CommandLog.Outcome.ANSWERED,
        status="Accepted",
        response={"status": "Accepted"},
    )
    CommandLog.objects.create(
        charger=other,
        command="clear-cache",
        source=CommandLog.Source.API,
        outcome=CommandLog.Outcome.OFFLINE,
    )
    client.force_login(manager_a)

    response = client.get(reverse("admin:chargers_charger_change", args=[charger.pk]))

    assert response.status_code == 200
    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.opts.model is CommandLog
    )
    rows = list(inline.formset.queryset)
    assert [(r.command, r.status, r.issued_by) for r in rows] == [("reset", "Accepted", manager_a)]
    assert "clear-cache" not in response.text
    # Links to the command page and to the charger's whole command log.
    assert _command_url(charger) in response.text
    assert f"?charger__id__exact={charger.pk}" in response.text

    # The linked log lists this charger's commands only.
    log_page = client.get(
        reverse("admin:chargers_commandlog_changelist"), {"charger__id__exact": charger.pk}
    )
    assert log_page.status_code == 200
    assert [entry.command for entry in log_page.context["cl"].result_list] == ["reset"]
