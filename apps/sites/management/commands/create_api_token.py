"""`manage.py create_api_token USERNAME`: a REST API token for a user, printed once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.sites.models import ApiToken
from apps.sites.services import api_token_create


class Command(BaseCommand):
    help = (
        "Create a REST API token for a user and print it once. The token is the last "
        "line of the output, alone, so scripts can capture it with `tail -n 1`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument(
            "--name", default="Command line", help="What the token is for (shown in the admin)."
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            metavar="N",
            help="Expire after N days (default: never).",
        )

    def handle(
        self, *args: Any, username: str, name: str, expires_days: int | None, **options: Any
    ) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: a token of theirs would not work.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        name = name.strip()
        max_length = ApiToken._meta.get_field("name").max_length or 100
        if not name or len(name) > max_length:
            raise CommandError(f"--name must have 1 to {max_length} characters.")

        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        token, raw = api_token_create(user=user, name=name, expires_at=expires_at)

        until = f"until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "with no expiry"
        self.stdout.write(
            f"Created API token {token.name!r} for {username}, {until}. It is shown only "
            "now: store it somewhere safe. Use it as 'Authorization: Bearer <token>'."
        )
        self.stdout.write(raw)
