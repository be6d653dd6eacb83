"""The charger page: what a charger is doing, its history, and the hands to act on it.

Tabs, each its own URL: overview (live connectors, alerts, maintenance buttons,
chart, status timeline, command history), sessions (sortable, filterable, CSV),
the OCPP message log (searchable, CSV), configuration and firmware. Another
organization's charger is a 404, exactly like a missing one.

Maintenance buttons are POST forms (CSRF protected); each makes one call into
apps.chargers.commands, which logs it (source DASHBOARD) and returns the
charger's answer, shown to the user as a message after the redirect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from apps.chargers import commands
from apps.chargers.exceptions import ChargerNoAnswer, ChargerOffline
from apps.chargers.models import CommandLog
from apps.monitoring import charts
from apps.monitoring.filters import OcppMessageFilter, SessionFilter
from apps.monitoring.selectors import charger_page as selectors
from apps.monitoring.selectors.dashboard import ChargerRow
from apps.monitoring.selectors.health import charger_vitals
from apps.monitoring.tables import OcppMessageTable, SessionTable
from apps.monitoring.views.dashboard import poll_interval_ms
from apps.sites.exceptions import DomainError, Forbidden, NotFound

# Seconds a button waits for the charger's answer: someone is watching the page.
DEFAULT_COMMAND_TIMEOUT_S = 15.0
# Answers that mean the charger does (or will do) what it was asked.
POSITIVE_ANSWERS = frozenset({"Accepted", "Scheduled", "Unlocked"})
SESSIONS_PER_PAGE = 25
MESSAGES_PER_PAGE = 50
# A CSV export of the message log stops here: past it, narrow the search.
EXPORT_MAX_ROWS = 50_000


def command_timeout() -> float:
    return float(getattr(settings, "MONITORING_COMMAND_TIMEOUT", DEFAULT_COMMAND_TIMEOUT_S))


def _charger_row(request: HttpRequest, charge_point_id: str) -> ChargerRow:
    try:
        return selectors.charger_for_page(user=request.user, charge_point_id=charge_point_id)
    except NotFound as exc:
        raise Http404(str(exc)) from None


def _base_context(request: HttpRequest, row: ChargerRow, tab: str) -> dict[str, Any]:
    return {
        "nav": "dashboard",
        "row": row,
        "charger": row.charger,
        "tab": tab,
        "can_manage": selectors.charger_manageable(user=request.user, charger=row.charger),
        "now": timezone.now(),
    }


# --- the maintenance forms ----------------------------------------------------------------


TRIGGER_MESSAGES = (
    ("StatusNotification", "Status notification"),
    ("Heartbeat", "Heartbeat"),
    ("MeterValues", "Meter values"),
    ("BootNotification", "Boot notification"),
    ("FirmwareStatusNotification", "Firmware status"),
    ("DiagnosticsStatusNotification", "Diagnostics / log status"),
)


class _ChargerForm(forms.Form):
    """A command form; knows the charger's connectors and active sessions."""

    def __init__(self, *args: Any, row: ChargerRow, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row = row
        self.connector_choices = [
            (str(c.connector.connector_id), f"Connector {c.connector.connector_id}")
            for c in row.connectors
        ]

    def params(self) -> dict[str, Any]:
        raise NotImplementedError


class RemoteStartForm(_ChargerForm):
    connector = forms.TypedChoiceField(coerce=int, label="Connector")
    id_tag = forms.CharField(
        label="Id tag",
        # 2.0.1 allows 36 characters; a 1.6 charger's limit of 20 is checked (and
        # reported) by the OCPP edge.
        max_length=36,
        help_text="The RFID or app token to charge as.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = self.connector_choices  # type: ignore[attr-defined]

    def params(self) -> dict[str, Any]:
        return {
            "connector_id": self.cleaned_data["connector"],
            "id_tag": self.cleaned_data["id_tag"],
        }


class RemoteStopForm(_ChargerForm):
    session = forms.TypedChoiceField(coerce=int, label="Session")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["session"].choices = [  # type: ignore[attr-defined]
            (
                str(c.session.pk),
                f"Connector {c.connector.connector_id}: {c.who or c.session.id_tag or 'session'}",
            )
            for c in self.row.connectors
            if c.session is not None
        ]

    def params(self) -> dict[str, Any]:
        return {"session_id": self.cleaned_data["session"]}


class ResetForm(_ChargerForm):
    type = forms.ChoiceField(
        label="Type",
        choices=[("soft", "Soft (restart)"), ("hard", "Hard (power cycle)")],
        initial="soft",
    )

    def params(self) -> dict[str, Any]:
        return {"type": self.cleaned_data["type"]}


class UnlockForm(_ChargerForm):
    connector = forms.TypedChoiceField(coerce=int, label="Connector")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = self.connector_choices  # type: ignore[attr-defined]

    def params(self) -> dict[str, Any]:
        return {"connector_id": self.cleaned_data["connector"]}


class AvailabilityForm(_ChargerForm):
    connector = forms.TypedChoiceField(coerce=int, label="Connector")
    available = forms.TypedChoiceField(
        label="Make",
        coerce=lambda value: value == "operative",
        choices=[("operative", "Available (operative)"), ("inoperative", "Unavailable")],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = [  # type: ignore[attr-defined]
            ("0", "Whole charger"),
            *self.connector_choices,
        ]

    def params(self) -> dict[str, Any]:
        return {
            "connector_id": self.cleaned_data["connector"],
            "available": self.cleaned_data["available"],
        }


class TriggerForm(_ChargerForm):
    message = forms.ChoiceField(label="Message", choices=TRIGGER_MESSAGES)
    connector = forms.TypedChoiceField(
        coerce=int, label="Connector", required=False, empty_value=None
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connector"].choices = [  # type: ignore[attr-defined]
            ("", "Whole charger"),
            *self.connector_choices,
        ]

    def params(self) -> dict[str, Any]:
        message = self.cleaned_data["message"]
        if message == "DiagnosticsStatusNotification" and self.row.charger.ocpp_version not in (
            "",
            "1.6",
        ):
            message = "LogStatusNotification"
        params: dict[str, Any] = {"message": message}
        if self.cleaned_data["connector"] is not None:
            params["connector_id"] = self.cleaned_data["connector"]
        return params


class ReadConfigurationForm(_ChargerForm):
    def params(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Hand:
    """One maintenance button: its URL name, the domain command, the form."""

    slug: str
    command: str
    title: str
    button: str
    form: type[_ChargerForm]
    danger: bool = False
    # Shown on the overview (else only on its own tab).
    on_overview: bool = True


HANDS: dict[str, Hand] = {
    hand.slug: hand
    for hand in (
        Hand("remote-start", "remote-start", "Remote start", "Start charging", RemoteStartForm),
        Hand("remote-stop", "remote-stop", "Remote stop", "Stop charging", RemoteStopForm, True),
        Hand("reset", "reset", "Reset", "Reset", ResetForm, True),
        Hand("unlock", "unlock-connector", "Unlock connector", "Unlock", UnlockForm),
        Hand(
            "availability",
            "change-availability",
            "Change availability",
            "Change",
            AvailabilityForm,
        ),
        Hand("trigger", "trigger-message", "Trigger message", "Trigger", TriggerForm),
        Hand(
            "read-configuration",
            "get-configuration",
            "Read configuration",
            "Read configuration",
            ReadConfigurationForm,
            on_overview=False,
        ),
    )
}


def answer_message(hand: Hand, outcome: commands.CommandResult | DomainError) -> tuple[int, str]:
    """The charger's answer (or why there is none) as a message level and text."""
    if isinstance(outcome, commands.CommandResult):
        status = outcome.status or "answered"
        level = messages.SUCCESS if outcome.status in POSITIVE_ANSWERS else messages.WARNING
        if hand.command == "get-configuration" and "report_request_id" in outcome.response:
            return level, (
                f"{hand.title}: the charger answered {status}; "
                "it sends its configuration as a report, shown below as it arrives."
            )
        if hand.command == "get-configuration":
            count = len(outcome.response.get("configuration") or [])
            return level, f"{hand.title}: the charger answered with {count} keys."
        info = outcome.response.get("status_info")
        reason = ""
        if isinstance(info, dict) and info.get("reason_code"):
            reason = f" ({info['reason_code']})"
        return level, f"{hand.title}: the charger answered {status}{reason}."
    if isinstance(outcome, ChargerOffline):
        return messages.WARNING, f"{hand.title}: the charger is offline, nothing was sent."
    if isinstance(outcome, ChargerNoAnswer):
        return messages.ERROR, f"{hand.title}: no answer from the charger. {outcome}"
    return messages.ERROR, f"{hand.title}: {outcome}"


def _hand_forms(row: ChargerRow) -> list[tuple[Hand, _ChargerForm]]:
    forms_ = []
    for hand in HANDS.values():
        if not hand.on_overview:
            continue
        form = hand.form(row=row, auto_id=f"id_{hand.slug}_%s")
        if hand.slug == "remote-stop" and not form.fields["session"].choices:  # type: ignore[attr-defined]
            continue
        forms_.append((hand, form))
    return forms_


@login_required
@require_POST
def charger_command(request: HttpRequest, charge_point_id: str, hand: str) -> HttpResponse:
    """Send one maintenance command and show the charger's answer on the page."""
    row = _charger_row(request, charge_point_id)
    chosen = HANDS.get(hand)
    if chosen is None:
        raise Http404("No such command.")
    if not selectors.charger_manageable(user=request.user, charger=row.charger):
        raise PermissionDenied("Your role does not allow commands to this charger.")
    form = chosen.form(request.POST, row=row)
    page = reverse("monitoring:charger", args=[row.charger.charge_point_id])
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label if name in form.fields else name}: "
            + " ".join(str(error) for error in errors)
            for name, errors in form.errors.items()
        )
        messages.error(request, f"{chosen.title}: {problems}")
        return redirect(page)
    try:
        result = commands.command_send_sync(
            charger=row.charger,
            command=chosen.command,
            params=form.params(),
            issued_by=request.user,
            source=CommandLog.Source.DASHBOARD,
            timeout=command_timeout(),
        )
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from None
    except NotFound as exc:
        raise Http404(str(exc)) from None
    except DomainError as exc:
        level, text = answer_message(chosen, exc)
    else:
        level, text = answer_message(chosen, result)
    messages.add_message(request, level, text)
    if chosen.command == "get-configuration":
        return redirect(reverse("monitoring:charger-configuration", args=[charge_point_id]))
    return redirect(page)


# --- the tabs ---------------------------------------------------------------------------


def _chart(row: ChargerRow, session_id: str | None) -> dict[str, Any]:
    sessions, chosen = selectors.chart_sessions(
        charger=row.charger,
        session_id=int(session_id) if session_id and session_id.isdigit() else None,
    )
    svg = None
    if chosen is not None:
        series = selectors.session_series(session=chosen)
        svg = charts.session_chart(
            [
                charts.Series("Power", "kW", series.power_kw, "power", steps=True),
                charts.Series("Energy", "kWh", series.energy_kwh, "energy"),
                charts.Series("State of charge", "%", series.soc_percent, "soc", floor_max=100),
            ],
            title=f"Session {chosen.ocpp_transaction_id} on connector "
            f"{chosen.connector.connector_id if chosen.connector else '?'}",
            start=chosen.started_at,
            end=chosen.stopped_at or (timezone.now() if not series.empty else None),
        )
    return {"chart_sessions": sessions, "chart_session": chosen, "chart_svg": svg}


@login_required
@require_GET
def charger_overview(request: HttpRequest, charge_point_id: str) -> HttpResponse:
    row = _charger_row(request, charge_point_id)
    context = _base_context(request, row, "overview")
    context.update(
        {
            "etag": f'"{row.page_signature}"',
            "poll_ms": poll_interval_ms(),
            "hands": _hand_forms(row) if context["can_manage"] else [],
            "timeline": selectors.status_timeline(charger=row.charger),
            "commands": selectors.charger_commands(charger=row.charger),
            "vitals": charger_vitals(charger=row.charger, now=context["now"]),
            **_chart(row, request.GET.get("session")),
        }
    )
    return render(request, "monitoring/charger/overview.html", context)


@login_required
@require_GET
def charger_live(request: HttpRequest, charge_point_id: str) -> HttpResponse:
    """The charger's live part (state, connectors, alerts) for the page's script."""
    row = _charger_row(request, charge_point_id)
    etag = f'"{row.page_signature}"'
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        context = {"row": row, "charger": row.charger, "tab": "overview", "now": timezone.now()}
        response = render(request, "monitoring/charger/_live.html", context)
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache, private"
    return response


def _export(table: Any, name: str) -> HttpResponse:
    exporter = TableExport("csv", table)
    return exporter.response(f"{name}.csv")


@login_required
@require_GET
def charger_sessions(request: HttpRequest, charge_point_id: str) -> HttpResponse:
    row = _charger_row(request, charge_point_id)
    filterset = SessionFilter(request.GET, queryset=selectors.charger_sessions(charger=row.charger))
    live = {
        c.session.pk: c.live.energy_wh
        for c in row.connectors
        if c.session is not None and c.live is not None and c.live.energy_wh is not None
    }
    table = SessionTable(filterset.qs, live_energy_wh=live)
    if request.GET.get("_export") == "csv":
        RequestConfig(request, paginate=False).configure(table)
        return _export(table, f"{row.charger.charge_point_id}-sessions")
    RequestConfig(request, paginate={"per_page": SESSIONS_PER_PAGE}).configure(table)
    context = _base_context(request, row, "sessions")
    context.update({"filter": filterset, "table": table, "export_query": _export_query(request)})
    return render(request, "monitoring/charger/sessions.html", context)


@login_required
@require_GET
def charger_messages(request: HttpRequest, charge_point_id: str) -> HttpResponse:
    row = _charger_row(request, charge_point_id)
    filterset = OcppMessageFilter(
        request.GET, queryset=selectors.charger_messages(charger=row.charger)
    )
    table = OcppMessageTable(filterset.qs)
    if request.GET.get("_export") == "csv":
        # Sorted as asked, then capped: the log can hold millions of rows.
        RequestConfig(request, paginate=False).configure(table)
        capped = OcppMessageTable(table.data.data[:EXPORT_MAX_ROWS], order_by=())
        return _export(capped, f"{row.charger.charge_point_id}-ocpp-messages")
    RequestConfig(request, paginate={"per_page": MESSAGES_PER_PAGE}).configure(table)
    context = _base_context(request, row, "messages")
    context.update({"filter": filterset, "table": table, "export_query": _export_query(request)})
    return render(request, "monitoring/charger/messages.html", context)


def _export_query(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query["_export"] = "csv"
    return query.urlencode()


@login_required
@require_GET
def charger_configuration(request: HttpRequest, charge_point_id: str) -> HttpResponse:
    row = _charger_row(request, charge_point_id)
    context = _base_context(request, row, "configuration")
    read_hand = HANDS["read-configuration"]
    context.update(
        {
            "configuration": selectors.charger_configuration(charger=row.charger),
            "firmware_events": selectors.firmware_events(charger=row.charger),
            "read_hand": read_hand,
        }
    )
    return render(request, "monitoring/charger/configuration.html", context)
