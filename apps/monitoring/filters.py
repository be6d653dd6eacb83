"""Filters of the charger page's tables (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from apps.chargers.models import ChargingSession, OcppMessage


class SessionFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ChargingSession.State.choices, empty_label="Any")
    started_from = django_filters.DateFilter(
        field_name="started_at",
        lookup_expr="date__gte",
        label="Started from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    started_until = django_filters.DateFilter(
        field_name="started_at",
        lookup_expr="date__lte",
        label="Started until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    connector = django_filters.NumberFilter(
        field_name="connector__connector_id", label="Connector", min_value=1
    )
    who = django_filters.CharFilter(method="filter_who", label="Vehicle, person or id tag")

    class Meta:
        model = ChargingSession
        fields = ("state", "started_from", "started_until", "connector", "who")

    def filter_who(
        self, queryset: QuerySet[ChargingSession], name: str, value: str
    ) -> QuerySet[ChargingSession]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(id_tag__icontains=value)
            | Q(person__first_name__icontains=value)
            | Q(person__last_name__icontains=value)
            | Q(vehicle__make__icontains=value)
            | Q(vehicle__model__icontains=value)
            | Q(vehicle__license_plate__icontains=value)
            | Q(id_token__uid__icontains=value)
            | Q(id_token__label__icontains=value)
        )


class OcppMessageFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_text",
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Action, message id or text"}),
    )
    direction = django_filters.ChoiceFilter(
        choices=OcppMessage.Direction.choices, empty_label="Both directions"
    )
    message_type = django_filters.ChoiceFilter(
        choices=OcppMessage.MessageType.choices, empty_label="Any type", label="Type"
    )

    class Meta:
        model = OcppMessage
        fields = ("q", "direction", "message_type")

    def filter_text(
        self, queryset: QuerySet[OcppMessage], name: str, value: str
    ) -> QuerySet[OcppMessage]:
        """An action by name, a message id exactly, or any text of the frame."""
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(action__iexact=value) | Q(message_id=value) | Q(frame__icontains=value)
        )
