"""manage.py create_api_token USERNAME [--name NAME] [--expires-days N]"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.sites.models import ApiToken
from tests import factories

pytestmark = pytest.mark.django_db


def create_api_token(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_create_api_token_prints_a_working_token_on_the_last_line(client, manager_a, org_a):
    zone = factories.ZoneFactory(property__organization=org_a)

    output = create_api_token("manager_a")

    raw = output.strip().splitlines()[-1]
    assert raw.startswith("pb_")
    assert " " not in raw
    response = client.get(reverse("api:zone_list"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert [z["id"] for z in response.json()] == [zone.pk]


def test_create_api_token_stores_only_the_hash(manager_a):
    raw = create_api_token("manager_a").strip().splitlines()[-1]

    token = ApiToken.objects.get(user=manager_a)
    assert token.name == "Command line"
    assert token.expires_at is None
    assert token.prefix == raw[:10]
    assert raw not in token.token_hash
    assert not ApiToken.objects.filter(token_hash=raw).exists()


def test_create_api_token_prints_the_token_once_and_says_so(manager_a):
    output = create_api_token("manager_a")

    raw = output.strip().splitlines()[-1]
    assert output.count(raw) == 1
    assert "shown only now" in output


def test_create_api_token_with_name_and_expiry(manager_a):
    before = timezone.now()

    output = create_api_token("manager_a", "--name", "Billing export", "--expires-days", "30")

    token = ApiToken.objects.get(user=manager_a)
    assert token.name == "Billing export"
    assert before + timedelta(days=30) <= token.expires_at <= timezone.now() + timedelta(days=30)
    assert "Billing export" in output


def test_create_api_token_each_call_makes_a_new_token(manager_a):
    first = create_api_token("manager_a").strip().splitlines()[-1]
    second = create_api_token("manager_a").strip().splitlines()[-1]

    assert first != second
    assert ApiToken.objects.filter(user=manager_a).count() == 2


def test_create_api_token_for_an_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        create_api_token("ghost")

    assert not ApiToken.objects.exists()


def test_create_api_token_for_an_inactive_user_fails_clearly(manager_a):
    manager_a.is_active = False
    manager_a.save(update_fields=["is_active"])

    with pytest.raises(CommandError, match="inactive"):
        create_api_token("manager_a")

    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires-days", "0"], "at least 1"),
        (["--expires-days", "-5"], "at least 1"),
        (["--name", "   "], "1 to 100 characters"),
        (["--name", "x" * 101], "1 to 100 characters"),
    ],
)
def test_create_api_token_rejects_bad_options(manager_a, args, message):
    with pytest.raises(CommandError, match=message):
        create_api_token("manager_a", *args)

    assert not ApiToken.objects.exists()
