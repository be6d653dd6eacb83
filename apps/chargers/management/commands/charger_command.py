"""`manage.py charger_command CP-1 reset '{"type": "soft"}'`: send a remote command
to a charger from the shell and print its answer as JSON.

The charger's socket is held by an ASGI server process; this command reaches it
through the channel layer, so it needs a layer shared between processes
(channels-redis: set REDIS_URL)."""

from __future__ import annotations

import json
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.chargers.commands import COMMAND_NAMES, command_send_sync
from apps.chargers.models import CommandLog
from apps.sites.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Send a remote command to a charger and print its answer as JSON. "
        f"Commands: {', '.join(COMMAND_NAMES)}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("charge_point_id")
        parser.add_argument("command", help="e.g. reset, remote-start, get-configuration.")
        parser.add_argument(
            "params",
            nargs="?",
            default="{}",
            help='The parameters as JSON, e.g. \'{"type": "soft"}\'.',
        )
        parser.add_argument(
            "--timeout", type=float, default=None, help="Seconds to wait for the answer."
        )
        parser.add_argument(
            "--user",
            default=None,
            help="Log the command as issued by this user (their rights are checked).",
        )

    def handle(
        self,
        *args: Any,
        charge_point_id: str,
        command: str,
        params: str,
        timeout: float | None,
        user: str | None,
        **options: Any,
    ) -> None:
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            # This process never holds a charger's socket; with an in-memory layer
            # the command could only wait and time out.
            raise CommandError(
                "The channel layer is in-memory (embedded mode), so this process cannot "
                "reach the server holding the charger's socket: set REDIS_URL."
            )
        try:
            parsed = json.loads(params)
        except json.JSONDecodeError as exc:
            raise CommandError(f"The parameters are not valid JSON: {exc}") from None
        issued_by = None
        if user is not None:
            issued_by = get_user_model()._default_manager.filter(username=user).first()
            if issued_by is None:
                raise CommandError(f"No user {user!r}.")
        try:
            result = command_send_sync(
                charger=charge_point_id,
                command=command,
                params=parsed,
                issued_by=issued_by,
                source=CommandLog.Source.SYSTEM,
                timeout=timeout,
            )
        except DomainError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from None
        answer = {**result.response, "command_id": result.command_id}
        self.stdout.write(json.dumps(answer, indent=2, sort_keys=True))
