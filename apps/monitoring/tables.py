"""Tables of the charger page (django-tables2): sortable, paginated, exported to CSV
with django-tables2's own exporter. `render_*` shapes the page, `value_*` the export
(plain numbers and full texts, no markup)."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html

from apps.chargers.models import ChargingSession, OcppMessage
from apps.monitoring.selectors.dashboard import humanize_duration, session_who

FRAME_PREVIEW_CHARS = 160


class SessionTable(tables.Table):
    started_at = tables.DateTimeColumn(verbose_name="Started", format="Y-m-d H:i")
    stopped_at = tables.DateTimeColumn(verbose_name="Stopped", format="Y-m-d H:i")
    connector = tables.Column(
        verbose_name="Connector", accessor="connector__connector_id", default="—"
    )
    who = tables.Column(
        verbose_name="Vehicle / person / token",
        empty_values=(),
        order_by=("vehicle__model", "person__last_name", "id_tag"),
    )
    id_tag = tables.Column(verbose_name="Id tag")
    state = tables.Column(verbose_name="State")
    energy_wh = tables.Column(
        verbose_name="Energy (kWh)", attrs={"td": {"class": "num"}}, empty_values=()
    )
    duration = tables.Column(verbose_name="Duration", empty_values=(), orderable=False)
    stop_reason = tables.Column(verbose_name="Stop reason")
    ocpp_transaction_id = tables.Column(verbose_name="Transaction")

    class Meta:
        model = ChargingSession
        fields = (
            "started_at",
            "stopped_at",
            "connector",
            "who",
            "id_tag",
            "state",
            "energy_wh",
            "duration",
            "stop_reason",
            "ocpp_transaction_id",
        )
        order_by = ("-started_at",)
        attrs = {"class": "data-table"}
        empty_text = "No sessions match."

    def __init__(self, *args: Any, live_energy_wh: dict[int, int] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Energy so far of the sessions in progress (from their latest samples).
        self.live_energy_wh = live_energy_wh or {}

    def render_who(self, record: ChargingSession) -> str:
        return session_who(record) or "—"

    def value_who(self, record: ChargingSession) -> str:
        return session_who(record)

    def render_state(self, record: ChargingSession) -> Any:
        return format_html(
            '<span class="pill pill-{}">{}</span>', record.state, record.get_state_display()
        )

    def value_state(self, record: ChargingSession) -> str:
        return record.state

    def render_energy_wh(self, record: ChargingSession) -> str:
        if record.energy_wh is not None:
            return f"{record.energy_wh / 1000:.2f}"
        live = self.live_energy_wh.get(record.pk)
        return f"{live / 1000:.2f} so far" if live is not None else "—"

    def value_energy_wh(self, record: ChargingSession) -> str:
        return "" if record.energy_wh is None else f"{record.energy_wh / 1000:.3f}"

    def render_duration(self, record: ChargingSession) -> str:
        end = record.stopped_at or timezone.now()
        text = humanize_duration(end - record.started_at)
        return text if record.stopped_at else f"{text} (in progress)"

    def value_duration(self, record: ChargingSession) -> str:
        end = record.stopped_at
        return "" if end is None else str(int((end - record.started_at).total_seconds()))


class OcppMessageTable(tables.Table):
    at = tables.DateTimeColumn(verbose_name="At", format="Y-m-d H:i:s")
    direction = tables.Column(verbose_name="Direction")
    message_type = tables.Column(verbose_name="Type")
    action = tables.Column(verbose_name="Action")
    message_id = tables.Column(verbose_name="Message id")
    frame = tables.Column(verbose_name="Frame", orderable=False)

    class Meta:
        model = OcppMessage
        fields = ("at", "direction", "message_type", "action", "message_id", "frame")
        order_by = ("-at",)
        attrs = {"class": "data-table messages"}
        empty_text = "No OCPP messages match."

    def render_direction(self, record: OcppMessage) -> Any:
        arrow = "←" if record.direction == OcppMessage.Direction.IN else "→"
        return format_html(
            '<span class="dir dir-{}" title="{}">{}</span>',
            record.direction,
            record.get_direction_display(),
            arrow,
        )

    def value_direction(self, record: OcppMessage) -> str:
        return record.direction

    def value_message_type(self, record: OcppMessage) -> str:
        return record.get_message_type_display() if record.message_type else ""

    def render_frame(self, value: str) -> Any:
        if len(value) <= FRAME_PREVIEW_CHARS:
            return format_html('<code class="frame">{}</code>', value)
        # Long frames fold: the preview opens to the whole frame.
        return format_html(
            '<details class="frame"><summary><code>{}…</code></summary><code>{}</code></details>',
            value[:FRAME_PREVIEW_CHARS],
            value,
        )

    def value_frame(self, value: str) -> str:
        return value
