"""Websocket URLs. A charger connects at /ocpp/<charge_point_id>, or with its
property's onboarding key at /ocpp/<onboarding_key>/<charge_point_id> (how an
unknown charger is onboarded); a trailing slash is tolerated. The server has
already percent-decoded the path ("RDAM%20123" arrives as "RDAM 123")."""

from __future__ import annotations

from django.urls import re_path

from apps.ocpp_consumer.consumers import OcppConsumer

websocket_urlpatterns = [
    re_path(r"^ocpp/(?P<charge_point_id>[^/]+)/?$", OcppConsumer.as_asgi()),
    re_path(
        r"^ocpp/(?P<onboarding_key>[^/]+)/(?P<charge_point_id>[^/]+)/?$",
        OcppConsumer.as_asgi(),
    ),
]
