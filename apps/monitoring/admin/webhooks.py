"""Webhooks in the admin: an organization's subscriptions (the secret is shown once,
on creation and on rotation; a test event on request) and the delivery log
(read-only, "retry now")."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from apps.monitoring import outbound
from apps.monitoring.models import WebhookDelivery, WebhookSubscription
from apps.monitoring.models.webhooks import SUBSCRIBABLE_EVENT_TYPES
from apps.monitoring.services import webhooks as services
from apps.sites.admin_once import shown_once_response
from apps.sites.admin_tenancy import TenantModelAdmin, TenantModelForm, scope_editable

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest, HttpResponse

# Test events are sent in the request: a bounded number at a time.
TEST_SEND_MAX = 10


class WebhookSubscriptionForm(TenantModelForm):
    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        label="URL",
        help_text=WebhookSubscription._meta.get_field("url").help_text,
    )
    event_types = forms.MultipleChoiceField(
        choices=[(t.value, t.label) for t in SUBSCRIBABLE_EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookSubscription
        fields = ["organization", "name", "url", "event_types", "properties", "is_active"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"].strip()
        try:
            outbound.url_check(url)
        except outbound.UnsafeUrl as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # On change the organization is read-only: compare with the row's.
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        properties = cleaned.get("properties") or []
        if organization is not None and any(
            p.organization_id != organization.pk for p in properties
        ):
            self.add_error("properties", "Choose properties of the subscription's organization.")
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(TenantModelAdmin):
    form = WebhookSubscriptionForm
    list_display = [
        "name",
        "organization",
        "url",
        "event_list",
        "is_active",
        "health",
        "last_success_at",
        "last_failure_at",
    ]
    list_filter = ["is_active", "organization"]
    search_fields = ["name", "url"]
    filter_horizontal = ["properties"]
    readonly_fields = [
        "secret_hint",
        "disabled_reason",
        "disabled_at",
        "last_success_at",
        "last_failure_at",
        "created_at",
        "recent_deliveries",
    ]
    actions = ["send_test_event", "rotate_secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A subscription stays in its organization (its secret and log belong there).
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "organization"] if obj is not None else fields

    def _editable(
        self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]
    ) -> QuerySet[WebhookSubscription]:
        # The selection comes from the browser: keep the rows this user may change.
        return scope_editable(queryset, request.user, self.write_roles).order_by("pk")

    @admin.display(description="events")
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.event_types)

    @admin.display(description="health")
    def health(self, obj: WebhookSubscription) -> str:
        if obj.disabled_reason:
            return format_html('<strong style="color:#b00">{}</strong>', obj.disabled_reason)
        if not obj.is_active:
            return "paused"
        if obj.last_failure_at and (
            obj.last_success_at is None or obj.last_failure_at > obj.last_success_at
        ):
            return "failing (retrying)"
        return "ok"

    @admin.display(description="secret")
    def secret_hint(self, obj: WebhookSubscription) -> str:
        return obj.secret_hint or "—"

    @admin.display(description="deliveries")
    def recent_deliveries(self, obj: WebhookSubscription) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:monitoring_webhookdelivery_changelist")
        return format_html('<a href="{}?subscription__id__exact={}">Delivery log</a>', url, obj.pk)

    # --- create / change through the services ----------------------------------------

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        fields = {
            "name": data["name"],
            "url": data["url"],
            "event_types": data["event_types"],
            "property_ids": [p.pk for p in data.get("properties") or []],
            "is_active": data["is_active"],
        }
        organization = data.get("organization") or obj.organization
        if change:
            saved = services.webhook_subscription_update(
                actor=request.user, subscription_id=obj.pk, **fields
            )
        else:
            saved, secret = services.webhook_subscription_create(
                actor=request.user, organization_id=organization.pk, **fields
            )
            # Rendered by response_add, in this same request.
            request._new_webhook_secret = secret  # type: ignore[attr-defined]
        # The admin goes on with `obj` (log entry, redirect): make it the saved row.
        for name in ("pk", "secret", "created_at", "disabled_reason", "disabled_at"):
            setattr(obj, name, getattr(saved, name))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The services set the properties; only inlines (none) would be left.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_add(
        self, request: HttpRequest, obj: WebhookSubscription, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(request, "_new_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return shown_once_response(
            self,
            request,
            title="New webhook subscription",
            secrets=[f"Signing secret of “{obj.name}”: {secret}"],
            next_url=reverse("admin:monitoring_webhooksubscription_change", args=[obj.pk]),
            next_label=f"Back to {obj.name}",
        )

    # --- actions ----------------------------------------------------------------------

    @admin.action(description="Send a test event to the selected endpoints", permissions=["change"])
    def send_test_event(
        self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]
    ) -> None:
        for subscription in self._editable(request, queryset)[:TEST_SEND_MAX]:
            delivery = services.webhook_test_send(
                actor=request.user, subscription_id=subscription.pk
            )
            if delivery.status == WebhookDelivery.Status.DELIVERED:
                self.message_user(
                    request,
                    f"{subscription.name}: delivered (HTTP {delivery.response_status}, "
                    f"{delivery.duration_ms} ms).",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request, f"{subscription.name}: not delivered: {delivery.error}", messages.ERROR
                )

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(
        self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]
    ) -> HttpResponse:
        lines = []
        for subscription in self._editable(request, queryset):
            rotated, secret = services.webhook_subscription_rotate_secret(
                actor=request.user, subscription_id=subscription.pk
            )
            lines.append(f"New signing secret of “{rotated.name}”: {secret}")
        return shown_once_response(
            self,
            request,
            title="New webhook secrets",
            secrets=lines + ["The previous secrets keep signing alongside the new ones for a day."],
            next_url=reverse("admin:monitoring_webhooksubscription_changelist"),
            next_label="Back to webhook subscriptions",
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantModelAdmin):
    read_only = True
    list_display = [
        "event_type",
        "event_id",
        "subscription",
        "status",
        "attempts",
        "response_status",
        "error",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event__type", "subscription"]
    search_fields = ["event__event_id", "subscription__name", "error"]
    list_select_related = ["event", "subscription"]
    readonly_fields = [
        "subscription",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "response_status",
        "response_body",
        "error",
        "duration_ms",
        "created_at",
        "body",
    ]
    fields = tuple(readonly_fields)
    actions = ["retry_now"]

    @admin.display(description="event", ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description="event id")
    def event_id(self, obj: WebhookDelivery) -> str:
        return obj.event.event_id

    @admin.display(description="body sent")
    def body(self, obj: WebhookDelivery) -> str:
        pretty = json.dumps(json.loads(services.webhook_body(obj.event)), indent=2)
        return format_html("<pre>{}</pre>", pretty)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, None, self.write_roles)

    @admin.action(description="Retry now (one attempt each)", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        attempted = services.webhook_deliveries_retry(
            actor=request.user, delivery_ids=list(queryset.values_list("pk", flat=True))
        )
        delivered = sum(d.status == WebhookDelivery.Status.DELIVERED for d in attempted)
        level = messages.SUCCESS if delivered == len(attempted) and attempted else messages.WARNING
        self.message_user(
            request,
            f"Retried {len(attempted)} deliveries: {delivered} delivered, "
            f"{len(attempted) - delivered} failed. Delivered ones and those of inactive "
            f"subscriptions are not retried (at most {services.MANUAL_RETRY_MAX} at a time).",
            level,
        )
