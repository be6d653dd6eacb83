"""The admin for chargers and what they report. Chargers are registered through
the chargers services (the password is hashed there and shown once, never
stored in clear); status history, sessions, meter samples, events and the
command log are written by chargers and services, so they are read-only here.
Tenancy rules come from apps/sites/admin_tenancy.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from apps.chargers import commands, credentials, services
from apps.chargers.exceptions import ChargerNoAnswer, ChargerOffline
from apps.chargers.models import (
    Charger,
    ChargerEvent,
    ChargingSession,
    CommandLog,
    Connector,
    MeterSample,
    SessionEvent,
    StatusChange,
)
from apps.monitoring.admin.maintenance import CHARGER_ACTIONS as MAINTENANCE_ACTIONS
from apps.monitoring.admin.maintenance import ChargerDriftedFilter
from apps.sites.admin_once import shown_once_response
from apps.sites.admin_tenancy import (
    TenantModelAdmin,
    TenantModelForm,
    TenantTabularInline,
    kilo,
    scope_editable,
)
from apps.sites.exceptions import DomainError

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse
    from django.urls import URLPattern

RECENT_SESSIONS = 10
RECENT_COMMANDS = 10
# Seconds a bulk action waits for each charger (they are asked concurrently). Short:
# someone is looking at a spinning page; a slow charger is reported as "no answer".
# Password rotation does not use it: it waits the full command timeout (see
# apps.chargers.commands.charger_password_send).
ADMIN_COMMAND_TIMEOUT_S = 10.0
# Answers that mean the charger does (or will do) what it was asked.
POSITIVE_ANSWERS = frozenset({"Accepted", "Scheduled", "Unlocked"})


class ChargerAdminForm(TenantModelForm):
    new_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=(
            f"HTTP Basic auth password for OCPP security profiles 1 and 2, "
            f"{credentials.MIN_LENGTH} to {credentials.MAX_LENGTH} characters. "
            "Empty: keep the current one."
        ),
    )
    generate_password = forms.BooleanField(
        required=False,
        help_text="Generate a random password; it is shown once, after saving.",
    )

    class Meta:
        model = Charger
        fields = "__all__"

    def clean_new_password(self) -> str:
        password: str = self.cleaned_data["new_password"]
        if password:
            try:
                credentials.validate_password(password)
            except credentials.PasswordPolicyError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return password

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("new_password") and cleaned.get("generate_password"):
            raise forms.ValidationError("Type a password or generate one, not both.")
        zone, circuit = cleaned.get("zone"), cleaned.get("circuit")
        if zone is not None and circuit is not None and circuit.property_id != zone.property_id:
            self.add_error("circuit", "The circuit must be in the zone's property.")
        return cleaned


class ConnectorInline(TenantTabularInline):
    model = Connector
    fields = ("connector_id", "status", "error_code", "vendor_error_code", "status_at")
    readonly_fields = ("status", "error_code", "vendor_error_code", "status_at")
    extra = 0


class LatestRowsFormSet(forms.BaseInlineFormSet):
    """Only the charger's latest rows (in the inline's ordering): a busy charger has
    thousands of sessions and commands. The inline sets `latest`."""

    latest = 10

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.queryset is not None:
            recent = list(self.queryset.values_list("pk", flat=True)[: self.latest])
            self.queryset = self.queryset.filter(pk__in=recent)


def latest_rows(count: int) -> type[LatestRowsFormSet]:
    return type("LatestRowsFormSet", (LatestRowsFormSet,), {"latest": count})


class RecentSessionsInline(TenantTabularInline):
    model = ChargingSession
    formset = latest_rows(RECENT_SESSIONS)
    verbose_name_plural = f"recent sessions (latest {RECENT_SESSIONS})"
    fields = ("ocpp_transaction_id", "connector", "state", "started_at", "stopped_at", "energy")
    readonly_fields = fields
    ordering = ("-started_at",)
    read_only = True
    can_delete = False
    extra = 0
    show_change_link = True

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="energy")
    def energy(self, obj: ChargingSession) -> str:
        return kilo(obj.energy_wh, "kWh")


class RecentCommandsInline(TenantTabularInline):
    model = CommandLog
    # The full log is linked from the charger page.
    formset = latest_rows(RECENT_COMMANDS)
    verbose_name_plural = f"recent commands (latest {RECENT_COMMANDS})"
    fields = (
        "created_at",
        "issued_by",
        "source",
        "command",
        "params",
        "outcome",
        "status",
        "response",
        "error",
    )
    readonly_fields = fields
    ordering = ("-created_at", "-pk")
    read_only = True
    can_delete = False
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[CommandLog]:
        # Each row names who issued it: one query, not one per row.
        return super().get_queryset(request).select_related("issued_by")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RemoteStartForm(forms.Form):
    """What a remote start to many chargers needs: where and with which token."""

    connector_id = forms.IntegerField(
        label="Connector", min_value=1, initial=1, help_text="The same connector on each charger."
    )
    id_tag = forms.CharField(
        label="Id tag",
        max_length=36,
        help_text="The token to charge with; each charger still checks it may charge there.",
    )


class RemoteCommandForm(forms.Form):
    command = forms.ChoiceField(choices=[(name, name) for name in commands.COMMAND_NAMES])
    params = forms.CharField(
        label="Parameters (JSON)",
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60, "spellcheck": "false"}),
        help_text='As in the API: e.g. reset {"type": "soft"}, trigger-message '
        '{"message": "StatusNotification", "connector_id": 1}.',
    )

    def clean_params(self) -> dict[str, Any]:
        text = self.cleaned_data["params"].strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The parameters must be a JSON object.")
        return value


def admin_command_timeout() -> float:
    return float(getattr(settings, "OCPP_ADMIN_COMMAND_TIMEOUT", ADMIN_COMMAND_TIMEOUT_S))


def _answer_message(charge_point_id: str, outcome: object) -> tuple[str, int]:
    """One charger's answer to a bulk command, as an admin message and its level."""
    if isinstance(outcome, commands.CommandResult):
        level = messages.SUCCESS if outcome.status in POSITIVE_ANSWERS else messages.WARNING
        return f"{charge_point_id}: {outcome.command} → {outcome.status or 'answered'}", level
    if isinstance(outcome, ChargerOffline):
        return f"{charge_point_id}: offline, the command was not sent.", messages.WARNING
    if isinstance(outcome, ChargerNoAnswer):
        return f"{charge_point_id}: no answer. {outcome}", messages.ERROR
    return f"{charge_point_id}: {outcome}", messages.ERROR


def _rotation_message(charge_point_id: str, outcome: object) -> tuple[str, int]:
    """One charger's answer to a password rotation, as an admin message and its level."""
    if isinstance(outcome, services.PasswordRotation):
        if outcome.rotated:
            return (
                f"{charge_point_id}: the charger accepted its new OCPP password; "
                "the old one is refused from now on.",
                messages.SUCCESS,
            )
        return (
            f"{charge_point_id}: the charger answered {outcome.status or 'without a status'}: "
            "its old OCPP password stays in force.",
            messages.WARNING,
        )
    if isinstance(outcome, ChargerOffline):
        return (
            f"{charge_point_id}: offline, no new password was sent; the old one stays.",
            messages.WARNING,
        )
    if isinstance(outcome, ChargerNoAnswer):
        return (
            f"{charge_point_id}: no answer, the password change is pending: the charger "
            "may log in with the old or the new OCPP password; its first login with the "
            "new one makes it the password.",
            messages.ERROR,
        )
    if isinstance(outcome, services.PasswordChangePending):
        return f"{charge_point_id}: {outcome}", messages.WARNING
    return (
        f"{charge_point_id}: {outcome} The old OCPP password stays in force.",
        messages.ERROR,
    )


def _bulk_command_action(
    name: str, description: str, command: str, params: dict[str, Any]
) -> Callable[..., None]:
    """A changelist action that sends one command to every selected charger the
    user may change, and shows each charger's answer."""

    def action(
        model_admin: ChargerAdmin, request: HttpRequest, queryset: QuerySet[Charger]
    ) -> None:
        model_admin.send_to_selected(request, queryset, command, params)

    action.__name__ = name
    return admin.action(description=description, permissions=["change"])(action)


BULK_COMMAND_ACTIONS = (
    _bulk_command_action("soft_reset", "Soft reset", "reset", {"type": "soft"}),
    _bulk_command_action("hard_reset", "Hard reset", "reset", {"type": "hard"}),
    _bulk_command_action("clear_cache", "Clear authorization cache", "clear-cache", {}),
    _bulk_command_action(
        "trigger_boot_notification",
        "Trigger BootNotification",
        "trigger-message",
        {"message": "BootNotification"},
    ),
    _bulk_command_action(
        "trigger_status_notification",
        "Trigger StatusNotification",
        "trigger-message",
        {"message": "StatusNotification"},
    ),
    _bulk_command_action(
        "trigger_heartbeat", "Trigger Heartbeat", "trigger-message", {"message": "Heartbeat"}
    ),
    _bulk_command_action(
        "make_available", "Make available", "change-availability", {"available": True}
    ),
    _bulk_command_action(
        "make_unavailable", "Make unavailable", "change-availability", {"available": False}
    ),
    _bulk_command_action(
        "unlock_connector_1", "Unlock connector 1", "unlock-connector", {"connector_id": 1}
    ),
)


@admin.register(Charger)
class ChargerAdmin(TenantModelAdmin):
    form = ChargerAdminForm
    list_display = (
        "charge_point_id",
        "name",
        "zone",
        "max_power",
        "ocpp_version",
        "registration",
        "online",
        "has_password",
        "last_seen_at",
    )
    list_filter = ("registration", "ocpp_version", ChargerDriftedFilter, "zone__property", "zone")
    list_select_related = ("zone__property",)
    search_fields = ("charge_point_id", "name", "serial_number", "vendor", "model")
    ordering = ("charge_point_id",)
    autocomplete_fields = ("zone", "circuit")
    actions = (
        *BULK_COMMAND_ACTIONS,
        "start_charging",
        "stop_active_sessions",
        *MAINTENANCE_ACTIONS,
        "rotate_ocpp_password",
        "generate_new_password",
    )
    inlines = (ConnectorInline, RecentSessionsInline, RecentCommandsInline)
    fieldsets = (
        (None, {"fields": ("charge_point_id", "name", "zone", "circuit", "registration")}),
        ("Power", {"fields": ("max_power_w", "phases")}),
        (
            "OCPP basic auth",
            {
                "fields": (
                    "has_password",
                    "password_change_pending",
                    "new_password",
                    "generate_password",
                )
            },
        ),
        (
            "Reported by the charger",
            {
                "fields": (
                    "vendor",
                    "model",
                    "serial_number",
                    "firmware_version",
                    "ocpp_version",
                )
            },
        ),
        (
            "Connection",
            {
                "fields": (
                    "online",
                    "last_seen_at",
                    "last_boot_at",
                    "connected_at",
                    "disconnected_at",
                    "created_at",
                )
            },
        ),
    )
    readonly_fields = (
        "has_password",
        "password_change_pending",
        "online",
        "last_seen_at",
        "last_boot_at",
        "connected_at",
        "disconnected_at",
        "created_at",
    )

    @method_decorator(sensitive_post_parameters("new_password"))
    def changeform_view(self, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().changeform_view(*args, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Charger | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The charge point id is the charger's identity on the socket and in
            # the session history: a different id is a different charger.
            fields += ("charge_point_id",)
        return fields

    @admin.display(description="max power", ordering="max_power_w")
    def max_power(self, obj: Charger) -> str:
        return kilo(obj.max_power_w, "kW")

    @admin.display(boolean=True, description="online")
    def online(self, obj: Charger) -> bool:
        return obj.online

    @admin.display(boolean=True, description="password set")
    def has_password(self, obj: Charger) -> bool:
        return obj.has_password

    @admin.display(description="password change")
    def password_change_pending(self, obj: Charger) -> str:
        # A rotation whose answer was lost: both passwords admit the charger
        # until it logs in with the new one.
        if not obj.pending_password_hash or obj.pending_password_set_at is None:
            return "-"
        since = formats.date_format(
            timezone.localtime(obj.pending_password_set_at), "DATETIME_FORMAT"
        )
        return f"password change pending since {since}"

    def save_model(self, request: HttpRequest, obj: Charger, form: Any, change: bool) -> None:
        data = form.cleaned_data
        generated = credentials.generate_password() if data.get("generate_password") else None
        password = generated or data.get("new_password") or None
        if change:
            super().save_model(request, obj, form, change)
            if password:
                services.charger_set_password(charger=obj, password=password)
        else:
            created = services.charger_create(
                charge_point_id=obj.charge_point_id,
                zone=obj.zone,
                max_power_w=obj.max_power_w,
                name=obj.name,
                password=password,
                registration=obj.registration,
            )
            # The admin goes on with `obj` (inlines, log entry, redirect): make it
            # the registered row, then store the form's other fields on it.
            obj.pk = created.pk
            obj.password_hash = created.password_hash
            obj.created_at = created.created_at
            obj._state.adding = False
            obj._state.db = created._state.db
            obj.save()
        if generated:
            # Rendered by response_add / response_change, in this same request.
            request._new_charger_passwords = [(obj, generated)]  # type: ignore[attr-defined]
        elif password:
            self.message_user(request, f"{obj}: the new password is set.", messages.SUCCESS)

    def response_add(
        self, request: HttpRequest, obj: Charger, post_url_continue: str | None = None
    ) -> HttpResponse:
        pairs = getattr(request, "_new_charger_passwords", None)
        if pairs:
            return self._passwords_page(request, pairs)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Charger) -> HttpResponse:
        pairs = getattr(request, "_new_charger_passwords", None)
        if pairs:
            return self._passwords_page(request, pairs)
        return super().response_change(request, obj)

    def _passwords_page(
        self, request: HttpRequest, pairs: list[tuple[Charger, str]]
    ) -> HttpResponse:
        if len(pairs) == 1:
            next_url = reverse("admin:chargers_charger_change", args=[pairs[0][0].pk])
            next_label = f"Back to {pairs[0][0]}"
        else:
            next_url, next_label = reverse("admin:chargers_charger_changelist"), "Back to chargers"
        return shown_once_response(
            self,
            request,
            title="New charger password" + ("s" if len(pairs) > 1 else ""),
            secrets=[f"OCPP password of {charger}: {password}" for charger, password in pairs],
            next_url=next_url,
            next_label=next_label,
        )

    # --- remote commands ------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/command/",
                self.admin_site.admin_view(self.remote_command_view),
                name="{}_{}_command".format(*info),
            ),
            *super().get_urls(),
        ]

    def _editable_selection(
        self, request: HttpRequest, queryset: QuerySet[Charger]
    ) -> list[str] | None:
        """The selected chargers the user may command, by charge point id; warns
        about the others (a viewer's rows in an organization they also manage)."""
        editable = list(
            scope_editable(queryset, request.user, self.write_roles)
            .order_by("charge_point_id")
            .values_list("charge_point_id", flat=True)
        )
        skipped = queryset.count() - len(editable)
        if skipped:
            self.message_user(
                request,
                f"{skipped} of the selected chargers may not be commanded by you: skipped.",
                messages.WARNING,
            )
        return editable or None

    def send_to_selected(
        self,
        request: HttpRequest,
        queryset: QuerySet[Charger],
        command: str,
        params: dict[str, Any],
    ) -> None:
        charge_point_ids = self._editable_selection(request, queryset)
        if charge_point_ids is None:
            return
        outcomes = commands.command_send_many_sync(
            chargers=charge_point_ids,
            command=command,
            params=params,
            issued_by=request.user,
            source=CommandLog.Source.ADMIN,
            timeout=admin_command_timeout(),
        )
        for charge_point_id, outcome in zip(charge_point_ids, outcomes, strict=True):
            self.message_user(request, *_answer_message(charge_point_id, outcome))

    @admin.action(description="Start charging…", permissions=["change"])
    def start_charging(
        self, request: HttpRequest, queryset: QuerySet[Charger]
    ) -> TemplateResponse | None:
        """Ask for the connector and id tag first (an intermediate page, like Django's
        delete confirmation), then send remote-start to every selected charger."""
        if "apply" in request.POST:
            form = RemoteStartForm(request.POST)
            if form.is_valid():
                self.send_to_selected(request, queryset, "remote-start", dict(form.cleaned_data))
                return None
        else:
            form = RemoteStartForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Start charging",
            "opts": self.opts,
            "form": form,
            "chargers": queryset.order_by("charge_point_id"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/chargers/charger/start_charging.html", context)

    @admin.action(
        description="Stop charging (remote stop of active sessions)", permissions=["change"]
    )
    def stop_active_sessions(self, request: HttpRequest, queryset: QuerySet[Charger]) -> None:
        charge_point_ids = self._editable_selection(request, queryset)
        if charge_point_ids is None:
            return
        active = list(
            ChargingSession.objects.filter(
                charger__charge_point_id__in=charge_point_ids, state=ChargingSession.State.ACTIVE
            )
            .order_by("charger__charge_point_id", "connector__connector_id")
            .values_list("charger__charge_point_id", "pk")
        )
        if not active:
            self.message_user(request, "No session is in progress on the selected chargers.")
            return
        outcomes = commands.sessions_stop_many_sync(
            sessions=active,
            issued_by=request.user,
            source=CommandLog.Source.ADMIN,
            timeout=admin_command_timeout(),
        )
        for (charge_point_id, session_id), outcome in zip(active, outcomes, strict=True):
            text, level = _answer_message(charge_point_id, outcome)
            self.message_user(request, f"Session {session_id}: {text}", level)

    @admin.action(description="Rotate OCPP password (sent to the charger)", permissions=["change"])
    def rotate_ocpp_password(self, request: HttpRequest, queryset: QuerySet[Charger]) -> None:
        charge_point_ids = self._editable_selection(request, queryset)
        if charge_point_ids is None:
            return
        outcomes = services.charger_password_rotate_many_sync(
            chargers=charge_point_ids, issued_by=request.user, source=CommandLog.Source.ADMIN
        )
        for charge_point_id, outcome in zip(charge_point_ids, outcomes, strict=True):
            self.message_user(request, *_rotation_message(charge_point_id, outcome))

    # The parameters may hold a secret (a password typed where it does not belong):
    # error reports mask them.
    @method_decorator(sensitive_post_parameters("params"))
    def remote_command_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Send one command, with JSON parameters, to this charger and show its answer
        (or rotate its OCPP password)."""
        charger = self.get_object(request, unquote(object_id))
        if charger is None:
            # Django's own answer for a missing (or another organization's) row:
            # a message and the admin index. Not in django-stubs, hence the ignore.
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined,no-any-return]
                request, self.opts, object_id
            )
        if not self.has_change_permission(request, charger):
            raise PermissionDenied
        form = RemoteCommandForm(request.POST if request.method == "POST" else None)
        answer: dict[str, Any] | None = None
        if request.method == "POST" and "rotate_password" in request.POST:
            form = RemoteCommandForm()
            try:
                rotation = services.charger_password_rotate_sync(
                    charger=charger, issued_by=request.user, source=CommandLog.Source.ADMIN
                )
            except DomainError as exc:
                self.message_user(request, *_rotation_message(charger.charge_point_id, exc))
            else:
                self.message_user(request, *_rotation_message(charger.charge_point_id, rotation))
        elif request.method == "POST" and form.is_valid():
            command, params = form.cleaned_data["command"], form.cleaned_data["params"]
            if commands.password_change_requested(command, params):
                # Refused below; the typed password is not shown back in the form.
                form = RemoteCommandForm(initial={"command": command})
            try:
                result = commands.command_send_sync(
                    charger=charger,
                    command=command,
                    params=params,
                    issued_by=request.user,
                    source=CommandLog.Source.ADMIN,
                )
            except DomainError as exc:
                self.message_user(request, *_answer_message(charger.charge_point_id, exc))
            else:
                self.message_user(request, *_answer_message(charger.charge_point_id, result))
                answer = {
                    "status": result.status,
                    "command_id": result.command_id,
                    "response": json.dumps(result.response, indent=2, sort_keys=True),
                }
        recent = (
            CommandLog.objects.filter(charger=charger)
            .select_related("issued_by")
            .order_by("-created_at", "-pk")[:RECENT_COMMANDS]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Remote command to {charger}",
            "opts": self.opts,
            "original": charger,
            "form": form,
            "answer": answer,
            "recent_commands": recent,
            "command_log_url": reverse("admin:chargers_commandlog_changelist")
            + f"?charger__id__exact={charger.pk}",
        }
        return TemplateResponse(request, "admin/chargers/charger/remote_command.html", context)

    @admin.action(
        description="Generate a new OCPP password (shown once, to type into the charger)",
        permissions=["change"],
    )
    def generate_new_password(
        self, request: HttpRequest, queryset: QuerySet[Charger]
    ) -> HttpResponse | None:
        pairs = []
        for charger in scope_editable(queryset, request.user, self.write_roles):
            password = credentials.generate_password()
            services.charger_set_password(charger=charger, password=password)
            pairs.append((charger, password))
        if not pairs:
            self.message_user(
                request, "None of the selected chargers may be changed by you.", messages.WARNING
            )
            return None
        return self._passwords_page(request, pairs)


@admin.register(Connector)
class ConnectorAdmin(TenantModelAdmin):
    list_display = ("__str__", "charger", "connector_id", "status", "error_code", "status_at")
    list_filter = ("status", "charger__zone__property")
    list_select_related = ("charger",)
    search_fields = ("charger__charge_point_id",)
    ordering = ("charger__charge_point_id", "connector_id")
    autocomplete_fields = ("charger",)
    readonly_fields = ("status", "error_code", "vendor_error_code", "status_at")


class ChargerDataAdmin(TenantModelAdmin):
    """Rows chargers report: shown, filtered, never typed in."""

    read_only = True


@admin.register(StatusChange)
class StatusChangeAdmin(ChargerDataAdmin):
    list_display = ("charger", "connector", "status", "error_code", "info", "reported_at")
    list_filter = ("status", "charger")
    list_select_related = ("charger", "connector__charger")
    search_fields = ("charger__charge_point_id", "error_code", "info")
    ordering = ("-reported_at",)
    date_hierarchy = "reported_at"


class SessionEventInline(TenantTabularInline):
    model = SessionEvent
    fields = ("seq_no", "kind", "trigger", "charging_state", "offline", "reported_at")
    readonly_fields = fields
    ordering = ("seq_no",)
    read_only = True
    can_delete = False
    extra = 0


@admin.register(ChargingSession)
class ChargingSessionAdmin(ChargerDataAdmin):
    list_display = (
        "ocpp_transaction_id",
        "charger",
        "connector_number",
        "state",
        "started_at",
        "stopped_at",
        "energy",
        "id_tag",
        "person",
        "vehicle",
    )
    list_filter = ("state", "had_offline_events", "charger__zone__property", "charger")
    list_select_related = ("charger", "connector", "person", "vehicle")
    search_fields = ("ocpp_transaction_id", "id_tag", "charger__charge_point_id")
    ordering = ("-started_at",)
    date_hierarchy = "started_at"
    inlines = (SessionEventInline,)

    @admin.display(description="connector", ordering="connector__connector_id")
    def connector_number(self, obj: ChargingSession) -> int | str:
        # Empty when a multi-EVSE 2.0.1 station never said which EVSE it was.
        return obj.connector.connector_id if obj.connector is not None else "—"

    @admin.display(description="energy", ordering="energy_wh")
    def energy(self, obj: ChargingSession) -> str:
        return kilo(obj.energy_wh, "kWh")


@admin.register(SessionEvent)
class SessionEventAdmin(ChargerDataAdmin):
    list_display = ("session", "seq_no", "kind", "trigger", "offline", "reported_at")
    list_filter = ("kind", "offline")
    list_select_related = ("session",)
    search_fields = ("session__ocpp_transaction_id", "session__charger__charge_point_id")
    ordering = ("-reported_at",)
    date_hierarchy = "reported_at"


@admin.register(MeterSample)
class MeterSampleAdmin(ChargerDataAdmin):
    list_display = (
        "sampled_at",
        "charger",
        "connector_id",
        "session",
        "measurand",
        "value",
        "unit",
        "phase",
    )
    list_filter = ("charger", "measurand")
    list_select_related = ("charger", "session")
    search_fields = ("charger__charge_point_id", "session__ocpp_transaction_id")
    ordering = ("-sampled_at",)
    date_hierarchy = "sampled_at"
    # Millions of rows: counting them all on every page costs more than the page.
    show_full_result_count = False


@admin.register(ChargerEvent)
class ChargerEventAdmin(ChargerDataAdmin):
    list_display = ("charger", "kind", "summary", "reported_at", "received_at")
    list_filter = ("kind", "charger")
    list_select_related = ("charger",)
    search_fields = ("charger__charge_point_id", "summary")
    ordering = ("-received_at",)
    date_hierarchy = "received_at"


@admin.register(CommandLog)
class CommandLogAdmin(ChargerDataAdmin):
    list_display = ("charger", "command", "source", "outcome", "status", "issued_by", "created_at")
    list_filter = ("outcome", "source", "command", "charger")
    list_select_related = ("charger", "issued_by")
    search_fields = ("charger__charge_point_id", "command", "status")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
