from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from apps.sites.models import ApiToken
from apps.sites.services import api_token_authenticate, api_token_create, api_token_revoke
from tests import factories

pytestmark = pytest.mark.django_db


def test_api_token_create_stores_only_a_hash():
    user = factories.UserFactory()
    token, raw = api_token_create(user=user, name="integration")
    assert raw.startswith("pb_")
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in (stored.token_hash, stored.prefix)
    assert raw.startswith(stored.prefix)
    assert api_token_authenticate(raw_token=raw) == token


@pytest.mark.parametrize("raw", ["", "pb_", "pb_wrong", "Bearer pb_x", "not-a-token"])
def test_api_token_authenticate_rejects_unknown(raw):
    api_token_create(user=factories.UserFactory(), name="x")
    assert api_token_authenticate(raw_token=raw) is None


def test_api_token_revoked_stops_working():
    token, raw = api_token_create(user=factories.UserFactory(), name="x")
    api_token_revoke(token=token)
    assert api_token_authenticate(raw_token=raw) is None


def test_api_token_expired_stops_working():
    expires = timezone.now() + dt.timedelta(days=1)
    _, raw = api_token_create(user=factories.UserFactory(), name="x", expires_at=expires)
    assert api_token_authenticate(raw_token=raw) is not None
    with time_machine.travel(expires + dt.timedelta(seconds=1)):
        assert api_token_authenticate(raw_token=raw) is None


def test_api_token_of_inactive_user_stops_working():
    user = factories.UserFactory()
    _, raw = api_token_create(user=user, name="x")
    user.is_active = False
    user.save()
    assert api_token_authenticate(raw_token=raw) is None


def test_api_token_last_used_is_written_at_most_once_a_minute():
    token, raw = api_token_create(user=factories.UserFactory(), name="x")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api_token_authenticate(raw_token=raw)
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        api_token_authenticate(raw_token=raw)
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        api_token_authenticate(raw_token=raw)
    token.refresh_from_db()
    assert token.last_used_at == start + dt.timedelta(seconds=61)
