"""ASGI entry point: HTTP goes to Django, websockets to the OCPP consumer."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.ocpp_consumer.routing import websocket_urlpatterns  # noqa: E402

# No AllowedHostsOriginValidator or session middleware for websockets: chargers
# send no Origin and no cookies; they authenticate in the consumer (HTTP Basic).
application = ProtocolTypeRouter(
    {"http": django_asgi_app, "websocket": URLRouter(websocket_urlpatterns)}
)
