"""Password rotation that cannot lock a charger out: the new hash is stored as
pending before it is sent, and each way the command can end decides its fate.

The rotation runs over the real in-memory channel layer with the stand-in
consumer of test_commands.py (it answers exactly as the consumer does);
admission runs against the database. The end-to-end case (a real daphne and a
charger that applies the password and drops the socket) is in
tests/ocpp_consumer/test_password_rotation_e2e.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from apps.chargers import credentials, services
from apps.chargers.exceptions import ChargerNoAnswer, ChargerOffline, CommandRejected
from apps.chargers.models import Charger, ChargerEvent, CommandLog
from apps.chargers.services import PasswordChangePending, Refusal
from apps.chargers.services.registration import PENDING_PASSWORD_GRACE
from apps.sites.exceptions import Forbidden, NotFound
from apps.sites.models import Membership
from tests import factories
from tests.chargers.test_commands import StandInConsumer
from tests.chargers.test_commands import (
    _channel_layer_per_test as _channel_layer_per_test,  # the autouse fixture
)

pytestmark = pytest.mark.django_db(transaction=True)

OLD = "the-old-password-0123456"
SOURCE = CommandLog.Source.ADMIN


def _make_charger(channel_name: str = "", password: str | None = OLD, **kwargs: Any) -> Charger:
    charger = factories.ChargerFactory(charge_point_id="CP-R", channel_name=channel_name, **kwargs)
    services.charger_set_password(charger=charger, password=password)
    return charger


def _admits(password: str | None) -> bool:
    admission = services.charger_admit(
        charge_point_id="CP-R",
        onboarding_key=None,
        username="CP-R" if password is not None else None,
        password=password,
    )
    return admission.charger is not None


def _row() -> Charger:
    return Charger.objects.get(charge_point_id="CP-R")


def _sent_password(consumer: StandInConsumer) -> str:
    [message] = consumer.received
    assert message["params"]["key"] == "AuthorizationKey"
    return str(message["params"]["value"])


async def _rotate_against(reply: dict[str, Any] | None, **kwargs: Any) -> tuple[Any, str, Charger]:
    """Rotate CP-R's password behind a stand-in consumer that answers `reply`; the
    outcome (a PasswordRotation or the exception), the password sent and the row."""
    async with StandInConsumer(reply) as consumer:
        await sync_to_async(_make_charger)(channel_name=consumer.channel_name, **kwargs)
        try:
            outcome: Any = await services.charger_password_rotate(charger="CP-R", source=SOURCE)
        except Exception as exc:
            outcome = exc
    return outcome, _sent_password(consumer), await sync_to_async(_row)()


def _answered(status: str) -> dict[str, Any]:
    return {"ok": True, "result": {"status": status}}


# --- the charger answered --------------------------------------------------------------


async def test_accepted_makes_the_new_password_current_at_once():
    outcome, new, row = await _rotate_against(_answered("Accepted"))

    assert outcome.rotated and outcome.status == "Accepted"
    assert credentials.check_password(new, row.password_hash)
    assert (row.pending_password_hash, row.pending_password_set_at) == ("", None)
    assert await sync_to_async(_admits)(new)
    assert not await sync_to_async(_admits)(OLD)


@pytest.mark.parametrize("status", ["Rejected", "NotSupported", "RebootRequired"])
async def test_refused_drops_the_pending_password(status):
    outcome, new, row = await _rotate_against(_answered(status))

    assert not outcome.rotated and outcome.status == status
    assert credentials.check_password(OLD, row.password_hash)
    assert (row.pending_password_hash, row.pending_password_set_at) == ("", None)
    assert await sync_to_async(_admits)(OLD)
    assert not await sync_to_async(_admits)(new)


async def test_callerror_drops_the_pending_password():
    reply = {"ok": False, "error": "call_error", "message": "NotImplemented"}
    outcome, new, row = await _rotate_against(reply)

    assert isinstance(outcome, CommandRejected)
    assert credentials.check_password(OLD, row.password_hash)
    assert row.pending_password_hash == ""
    assert await sync_to_async(_admits)(OLD)
    assert not await sync_to_async(_admits)(new)


# --- no answer: the charger may have applied it -----------------------------------------


def test_lost_answer_keeps_pending_and_the_first_login_with_it_promotes_it():
    """The consumer reports the socket dropped mid-call (its "timeout" report)."""
    reply = {"ok": False, "error": "timeout", "message": "The charger disconnected."}
    outcome, new, row = asyncio.run(_rotate_against(reply))

    assert isinstance(outcome, ChargerNoAnswer)
    assert credentials.check_password(OLD, row.password_hash)
    assert credentials.check_password(new, row.pending_password_hash)
    assert row.pending_password_set_at is not None
    # The old password still admits, and leaves the pending one in place.
    assert _admits(OLD)
    assert credentials.check_password(new, _row().pending_password_hash)
    # The first login with the new one promotes it; then the old one is refused.
    assert _admits(new)
    row = _row()
    assert credentials.check_password(new, row.password_hash)
    assert (row.pending_password_hash, row.pending_password_set_at) == ("", None)
    assert not _admits(OLD)
    assert _admits(new)
    assert ChargerEvent.objects.filter(summary__startswith="Logged in with the new").count() == 1


async def test_silence_until_the_timeout_keeps_pending(settings):
    settings.OCPP_COMMAND_TIMEOUT = 0.2
    outcome, new, row = await _rotate_against(None)

    assert isinstance(outcome, ChargerNoAnswer)
    assert credentials.check_password(OLD, row.password_hash)
    assert credentials.check_password(new, row.pending_password_hash)


async def test_a_caller_gone_before_the_answer_keeps_pending():
    async with StandInConsumer(None) as consumer:
        await sync_to_async(_make_charger)(channel_name=consumer.channel_name)
        task = asyncio.create_task(services.charger_password_rotate(charger="CP-R", source=SOURCE))
        await asyncio.wait_for(consumer.got_message.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    row = await sync_to_async(_row)()
    assert credentials.check_password(_sent_password(consumer), row.pending_password_hash)
    assert credentials.check_password(OLD, row.password_hash)


async def test_a_second_rotation_waits_while_one_is_pending():
    reply = {"ok": False, "error": "timeout", "message": "The charger disconnected."}
    _, new, _ = await _rotate_against(reply)

    async with StandInConsumer(_answered("Accepted")) as consumer:
        await sync_to_async(Charger.objects.filter(charge_point_id="CP-R").update)(
            channel_name=consumer.channel_name
        )
        with pytest.raises(PasswordChangePending, match="unconfirmed OCPP password change"):
            await services.charger_password_rotate(charger="CP-R", source=SOURCE)
        await asyncio.sleep(0.05)
    assert consumer.received == []
    row = await sync_to_async(_row)()
    assert credentials.check_password(new, row.pending_password_hash)


def test_login_with_the_current_password_drops_pending_after_the_grace_period():
    charger = _make_charger()
    new = credentials.generate_password()
    Charger.objects.filter(pk=charger.pk).update(
        pending_password_hash=credentials.hash_password(new),
        pending_password_set_at=timezone.now() - PENDING_PASSWORD_GRACE + timedelta(minutes=5),
    )
    assert _admits(OLD)
    assert _row().pending_password_hash != ""

    Charger.objects.filter(pk=charger.pk).update(
        pending_password_set_at=timezone.now() - PENDING_PASSWORD_GRACE - timedelta(minutes=5)
    )
    assert _admits(OLD)
    row = _row()
    assert (row.pending_password_hash, row.pending_password_set_at) == ("", None)
    assert not _admits(new)
    assert _admits(OLD)


def test_wrong_password_neither_admits_nor_touches_pending():
    charger = _make_charger()
    pending = credentials.hash_password(credentials.generate_password())
    Charger.objects.filter(pk=charger.pk).update(
        pending_password_hash=pending, pending_password_set_at=timezone.now()
    )
    admission = services.charger_admit(
        charge_point_id="CP-R",
        onboarding_key=None,
        username="CP-R",
        password="wrong-password-0123456",
    )
    assert admission.refusal == Refusal.BAD_CREDENTIALS
    assert _row().pending_password_hash == pending


def test_a_charger_without_password_still_connects_without_one_while_pending():
    """Rotating a profile-0 charger: until it logs in with the new password, it may
    still be connecting without any."""
    charger = _make_charger(password=None)
    new = credentials.generate_password()
    Charger.objects.filter(pk=charger.pk).update(
        pending_password_hash=credentials.hash_password(new), pending_password_set_at=timezone.now()
    )
    assert _admits(None)
    assert _admits(new)
    assert credentials.check_password(new, _row().password_hash)
    assert not _admits(None)


def test_setting_a_password_by_hand_drops_pending():
    charger = _make_charger()
    new = credentials.generate_password()
    Charger.objects.filter(pk=charger.pk).update(
        pending_password_hash=credentials.hash_password(new), pending_password_set_at=timezone.now()
    )
    charger.refresh_from_db()
    services.charger_set_password(charger=charger, password="another-password-0123456")
    row = _row()
    assert (row.pending_password_hash, row.pending_password_set_at) == ("", None)
    assert not _admits(new)


# --- nothing reached the charger -------------------------------------------------------


async def test_offline_stores_nothing_pending():
    await sync_to_async(_make_charger)()
    with pytest.raises(ChargerOffline):
        await services.charger_password_rotate(charger="CP-R", source=SOURCE)
    row = await sync_to_async(_row)()
    assert (row.pending_password_hash, row.pending_password_set_at) == ("", None)
    assert credentials.check_password(OLD, row.password_hash)


async def test_no_rights_store_nothing_pending():
    charger = await sync_to_async(_make_charger)(channel_name="unused")
    organization = await sync_to_async(lambda: charger.zone.property.organization)()
    viewer = await sync_to_async(factories.UserFactory)()
    await sync_to_async(factories.MembershipFactory)(
        user=viewer, organization=organization, role=Membership.Role.VIEWER
    )
    stranger = await sync_to_async(factories.UserFactory)()

    with pytest.raises(Forbidden):
        await services.charger_password_rotate(charger="CP-R", issued_by=viewer, source=SOURCE)
    with pytest.raises(NotFound):
        await services.charger_password_rotate(charger="CP-R", issued_by=stranger, source=SOURCE)
    row = await sync_to_async(_row)()
    assert row.pending_password_hash == ""
    assert not await sync_to_async(CommandLog.objects.exists)()
