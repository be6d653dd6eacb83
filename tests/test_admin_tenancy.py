"""Tenancy of the Django admin, for every registered tenant-owned model: a manager
of organization A never sees, changes, deletes or picks organization B's rows,
through any admin URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.access.models import AccessGroup, AccessPolicy, Fleet, IdToken, Person, Vehicle
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
from apps.monitoring.models import (
    Alert,
    AlertRule,
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    DiagnosticsRequest,
    FirmwareUpdate,
    Notification,
    OutageExclusion,
    RemedyAttempt,
    ReportDelivery,
    ReportSubscription,
    UptimePolicy,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from apps.sites.models import Circuit, Membership, Organization, Property, Zone
from apps.sites.tenancy import organization_id_of
from tests import factories
from tests.monitoring.maintenance import factories as maintenance_factories

pytestmark = pytest.mark.django_db


def _charger(org: Organization) -> Charger:
    return factories.ChargerFactory(zone__property__organization=org)


def _outage_exclusion(org: Organization) -> OutageExclusion:
    connector = factories.ConnectorFactory(charger=_charger(org))
    return OutageExclusion.objects.create(
        property=connector.charger.zone.property,
        charger=connector.charger,
        connector=connector,
        cause="utility_interruption",
        starts_at=timezone.now() - timedelta(hours=2),
        ends_at=timezone.now() - timedelta(hours=1),
    )


def _report_subscription(org: Organization) -> ReportSubscription:
    return ReportSubscription.objects.create(
        property=factories.PropertyFactory(organization=org),
        frequency="weekly",
        recipients="ops@example.com",
    )


def _webhook(org: Organization) -> WebhookSubscription:
    return WebhookSubscription.objects.create(
        organization=org,
        name="Hook",
        url="https://hooks.example.com/x",
        event_types=["charger.offline"],
        secret=f"whsec_{org.slug}",
    )


def _webhook_delivery(org: Organization) -> WebhookDelivery:
    event = WebhookEvent.objects.create(
        event_id=f"evt_test_{org.slug}_{WebhookEvent.objects.count()}",
        organization=org,
        type="webhook.test",
        occurred_at=timezone.now(),
    )
    return WebhookDelivery.objects.create(
        subscription=_webhook(org), event=event, next_attempt_at=timezone.now()
    )


def _alert_rule(org: Organization) -> AlertRule:
    # One rule per kind and organization: each call takes a kind still free.
    used = set(AlertRule.objects.filter(organization=org).values_list("kind", flat=True))
    kind = next(k for k in AlertRule.Kind.values if k not in used)
    return AlertRule.objects.create(organization=org, kind=kind)


def _alert(org: Organization) -> Alert:
    return Alert.objects.create(
        organization=org,
        kind="charger_offline",
        charger=_charger(org),
        title="offline",
        opened_at=timezone.now(),
    )


BUILDERS: dict[type[models.Model], Callable[[Organization], models.Model]] = {
    Organization: lambda org: org,
    Membership: lambda org: factories.MembershipFactory(
        organization=org, role=Membership.Role.VIEWER
    ),
    Property: lambda org: factories.PropertyFactory(organization=org),
    Circuit: lambda org: factories.CircuitFactory(property__organization=org),
    Zone: lambda org: factories.ZoneFactory(property__organization=org),
    Person: lambda org: factories.PersonFactory(organization=org),
    AccessGroup: lambda org: factories.AccessGroupFactory(organization=org),
    Fleet: lambda org: factories.FleetFactory(organization=org),
    Vehicle: lambda org: factories.VehicleFactory(organization=org),
    IdToken: lambda org: factories.IdTokenFactory(organization=org),
    AccessPolicy: lambda org: factories.AccessPolicyFactory(zone__property__organization=org),
    Charger: _charger,
    Connector: lambda org: factories.ConnectorFactory(charger=_charger(org)),
    StatusChange: lambda org: factories.StatusChangeFactory(charger=_charger(org)),
    ChargingSession: lambda org: factories.ChargingSessionFactory(connector__charger=_charger(org)),
    MeterSample: lambda org: factories.MeterSampleFactory(
        session__connector__charger=_charger(org)
    ),
    SessionEvent: lambda org: SessionEvent.objects.create(
        session=factories.ChargingSessionFactory(connector__charger=_charger(org)),
        seq_no=0,
        kind=SessionEvent.Kind.STARTED,
        reported_at=timezone.now(),
    ),
    ChargerEvent: lambda org: ChargerEvent.objects.create(
        charger=_charger(org), kind=ChargerEvent.Kind.BOOT, summary="booted"
    ),
    CommandLog: lambda org: CommandLog.objects.create(
        charger=_charger(org), command="reset", source=CommandLog.Source.API
    ),
    UptimePolicy: lambda org: UptimePolicy.objects.create(
        organization=org, property=factories.PropertyFactory(organization=org)
    ),
    OutageExclusion: _outage_exclusion,
    ReportSubscription: _report_subscription,
    ReportDelivery: lambda org: ReportDelivery.objects.create(
        subscription=_report_subscription(org),
        period_start=timezone.now(),
        period_end=timezone.now(),
        recipients="ops@example.com",
        sent_at=timezone.now(),
    ),
    WebhookSubscription: _webhook,
    WebhookDelivery: _webhook_delivery,
    AlertRule: lambda org: _alert_rule(org),
    Alert: lambda org: _alert(org),
    RemedyAttempt: lambda org: RemedyAttempt.objects.create(
        organization=org,
        alert=(alert := _alert(org)),
        charger=alert.charger,
        action=AlertRule.Remedy.SOFT_RESET,
        attempt=1,
        created_at=timezone.now(),
    ),
    Notification: lambda org: Notification.objects.create(
        organization=org,
        kind=Notification.Kind.ALERT_OPENED,
        subject="hi",
        created_at=timezone.now(),
    ),
    **maintenance_factories.BUILDERS,
}
MODELS = list(BUILDERS)
# Rows a property manager may add and delete: organizations are created and removed
# by superusers, memberships are managed by owners (tests/sites/test_admin.py).
OWNER_ONLY = {Organization, Membership}
DELETABLE = [m for m in MODELS if m not in OWNER_ONLY]
# Rows written by chargers and services, never added or changed in the admin.
READ_ONLY = {
    StatusChange,
    ChargingSession,
    SessionEvent,
    MeterSample,
    ChargerEvent,
    CommandLog,
    ReportDelivery,
    WebhookDelivery,
    Alert,
    RemedyAttempt,
    Notification,
    ChargerConfiguration,
    ConfigurationChange,
    ConfigurationDrift,
    DiagnosticsRequest,
    FirmwareUpdate,
}


def test_every_registered_tenant_model_is_covered() -> None:
    registered = {m for m in admin.site._registry if hasattr(m, "tenant_path")}
    assert registered == set(MODELS)


def url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@dataclass
class World:
    model: type[models.Model]
    a: models.Model
    b: models.Model


@pytest.fixture(params=MODELS, ids=lambda m: m.__name__)
def world(request: pytest.FixtureRequest, org_a: Organization, org_b: Organization) -> World:
    model = request.param
    return World(model, BUILDERS[model](org_a), BUILDERS[model](org_b))


def test_manager_changelist_shows_own_rows_only(client, manager_a, world: World) -> None:
    client.force_login(manager_a)
    response = client.get(url(world.model, "changelist"))
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert world.a in shown
    assert world.b not in shown
    assert url(world.model, "change", world.a.pk) in response.text
    assert url(world.model, "change", world.b.pk) not in response.text


def test_manager_opens_own_change_page(client, manager_a, world: World) -> None:
    client.force_login(manager_a)
    response = client.get(url(world.model, "change", world.a.pk))
    assert response.status_code == 200
    assert response.context["original"] == world.a


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_manager_cannot_open_other_orgs_object_urls(
    client, manager_a, world: World, view: str
) -> None:
    client.force_login(manager_a)
    response = client.get(url(world.model, view, world.b.pk))
    # The row does not exist for them: the admin redirects to its index (or
    # refuses first, where the user may delete no such row at all).
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response.url == reverse("admin:index")


def test_manager_cannot_change_or_delete_other_orgs_row_by_post(
    client, manager_a, world: World
) -> None:
    client.force_login(manager_a)
    before = world.model.objects.filter(pk=world.b.pk).values().get()
    change = client.post(url(world.model, "change", world.b.pk), {"name": "hijacked"})
    delete = client.post(url(world.model, "delete", world.b.pk), {"post": "yes"})
    assert change.status_code in (302, 403)
    assert delete.status_code in (302, 403)
    assert world.model.objects.filter(pk=world.b.pk).values().get() == before


def _bulk_delete(client, model: type[models.Model], pks: list[Any]) -> Any:
    return client.post(
        url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(pk) for pk in pks], "post": "yes"},
    )


def test_bulk_delete_never_touches_other_orgs_rows(client, manager_a, world: World) -> None:
    client.force_login(manager_a)
    _bulk_delete(client, world.model, [world.a.pk, world.b.pk])
    assert world.model.objects.filter(pk=world.b.pk).exists()
    if world.model in DELETABLE:
        # The same request deleted the manager's own row: the action did run.
        assert not world.model.objects.filter(pk=world.a.pk).exists()


def test_bulk_delete_skips_rows_the_user_only_views(client, org_a, org_b, world: World) -> None:
    """A viewer of A who manages B selects A's row: it survives."""
    user = factories.UserFactory(username="mixed")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.VIEWER)
    factories.MembershipFactory(
        user=user, organization=org_b, role=Membership.Role.PROPERTY_MANAGER
    )
    client.force_login(user)
    _bulk_delete(client, world.model, [world.a.pk])
    assert world.model.objects.filter(pk=world.a.pk).exists()


def test_superuser_sees_both_orgs(client, superuser, world: World) -> None:
    client.force_login(superuser)
    response = client.get(url(world.model, "changelist"))
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert world.a in shown
    assert world.b in shown


def test_anonymous_is_sent_to_login(client, world: World) -> None:
    for target in (url(world.model, "changelist"), url(world.model, "change", world.a.pk)):
        response = client.get(target)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


def test_viewer_sees_but_cannot_change(client, org_a, world: World) -> None:
    viewer = factories.UserFactory(username="viewer_a")
    factories.MembershipFactory(user=viewer, organization=org_a, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    page = client.get(url(world.model, "change", world.a.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert page.context["has_delete_permission"] is False
    before = world.model.objects.filter(pk=world.a.pk).values().get()
    assert client.post(url(world.model, "change", world.a.pk), {}).status_code == 403
    assert client.post(url(world.model, "delete", world.a.pk), {"post": "yes"}).status_code == 403
    assert client.get(url(world.model, "add")).status_code == 403
    assert world.model.objects.filter(pk=world.a.pk).values().get() == before


def _model_choice_fields(response: Any) -> list[tuple[str, forms.ModelChoiceField]]:
    found = [
        (name, field)
        for name, field in response.context["adminform"].form.fields.items()
        if isinstance(field, forms.ModelChoiceField) and name != "id"
    ]
    for inline in response.context["inline_admin_formsets"]:
        form = inline.formset.empty_form
        found += [
            (f"{inline.formset.prefix}.{name}", field)
            for name, field in form.fields.items()
            # "id" is the inline row's own primary key, not a reference.
            if isinstance(field, forms.ModelChoiceField) and name != "id"
        ]
    return found


@pytest.mark.parametrize(
    "model", [m for m in MODELS if m not in READ_ONLY | OWNER_ONLY], ids=lambda m: m.__name__
)
def test_add_form_choices_exclude_other_orgs(
    client, manager_a, org_a, org_b, model: type[models.Model]
) -> None:
    # Give both organizations a row of every kind, so every choice list has B rows to leak.
    for builder_model, build in BUILDERS.items():
        if builder_model is not Organization:
            build(org_a)
            build(org_b)
    client.force_login(manager_a)
    response = client.get(url(model, "add"))
    assert response.status_code == 200
    fields = _model_choice_fields(response)
    assert fields, "the add form has relation fields to check"
    for name, field in fields:
        choices = list(field.queryset)
        if field.queryset.model is get_user_model():
            # Only people who share an organization with the manager.
            assert all(u.memberships.filter(organization=org_a).exists() for u in choices), name
        else:
            assert choices, f"{name}: A's own rows are offered"
            assert {organization_id_of(c) for c in choices} == {org_a.pk}, name


# (model, valid POST data for an organization, field to point at B's row, B's value)
def _fk_cases() -> list[tuple[type[models.Model], Callable, str, Callable]]:
    return [
        (
            Property,
            lambda o: {"organization": o.pk, "name": "New", "time_zone": "UTC"},
            "organization",
            lambda b: b.pk,
        ),
        (
            Circuit,
            lambda o: {
                "property": factories.PropertyFactory(organization=o).pk,
                "name": "New",
                "limit_w": 32000,
                "phases": 3,
            },
            "property",
            lambda b: factories.PropertyFactory(organization=b).pk,
        ),
        (
            Zone,
            lambda o: {
                "property": factories.PropertyFactory(organization=o).pk,
                "name": "New",
                "kind": "public",
            },
            "property",
            lambda b: factories.PropertyFactory(organization=b).pk,
        ),
        (
            Person,
            lambda o: {
                "organization": o.pk,
                "kind": "resident",
                "first_name": "A",
                "last_name": "B",
            },
            "organization",
            lambda b: b.pk,
        ),
        (
            AccessGroup,
            lambda o: {"organization": o.pk, "name": "New"},
            "organization",
            lambda b: b.pk,
        ),
        (Fleet, lambda o: {"organization": o.pk, "name": "New"}, "organization", lambda b: b.pk),
        (
            Vehicle,
            lambda o: {
                "organization": o.pk,
                "make": "Ford",
                "model": "E-Transit",
                "battery_capacity_wh": 68000,
                "max_ac_power_w": 11000,
            },
            "fleet",
            lambda b: factories.FleetFactory(organization=b).pk,
        ),
        (
            IdToken,
            lambda o: {"organization": o.pk, "uid": "NEW1", "kind": "rfid", "status": "active"},
            "person",
            lambda b: factories.PersonFactory(organization=b).pk,
        ),
        (
            AccessPolicy,
            lambda o: {
                "zone": factories.ZoneFactory(property__organization=o).pk,
                "admits": "public",
            },
            "groups",
            lambda b: [factories.AccessGroupFactory(organization=b).pk],
        ),
        (
            Charger,
            lambda o: {
                "charge_point_id": "CP-NEW",
                "zone": factories.ZoneFactory(property__organization=o).pk,
                "max_power_w": 22000,
                "phases": 3,
                "registration": "accepted",
            },
            "zone",
            lambda b: factories.ZoneFactory(property__organization=b).pk,
        ),
        (
            Connector,
            lambda o: {"charger": _charger(o).pk, "connector_id": 2},
            "charger",
            lambda b: _charger(b).pk,
        ),
    ]


def with_empty_inlines(client, add_url: str, data: dict[str, Any]) -> dict[str, Any]:
    """The add view's POST data plus an empty management form for every inline."""
    page = client.get(add_url)
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return data


@pytest.mark.parametrize(
    ("model", "payload", "field", "foreign"), _fk_cases(), ids=lambda v: getattr(v, "__name__", "")
)
def test_posting_other_orgs_id_is_a_form_error(
    client, manager_a, org_a, org_b, model, payload, field, foreign
) -> None:
    client.force_login(manager_a)
    add_url = url(model, "add")

    # The payload is valid for A: the refusal below is about B's id, nothing else.
    good = with_empty_inlines(client, add_url, payload(org_a))
    assert client.post(add_url, good).status_code == 302
    count = model.objects.count()

    bad = with_empty_inlines(client, add_url, payload(org_a) | {field: foreign(org_b)})
    if model is Charger:
        bad["charge_point_id"] = "CP-OTHER"
    if model is IdToken:
        bad["uid"] = "NEW2"
    response = client.post(add_url, bad)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert model.objects.count() == count


def test_manager_cannot_create_a_row_in_another_org(client, manager_a, org_b) -> None:
    client.force_login(manager_a)
    add_url = url(Property, "add")
    data = with_empty_inlines(
        client, add_url, {"organization": org_b.pk, "name": "Sneaky", "time_zone": "UTC"}
    )
    response = client.post(add_url, data)
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Property.objects.filter(name="Sneaky").exists()


def test_references_must_share_one_organization(client, org_a) -> None:
    """A manager of two organizations cannot hang A's vehicle under C's fleet."""
    org_c = factories.OrganizationFactory(name="Org C", slug="org-c")
    user = factories.UserFactory(username="two_orgs")
    for org in (org_a, org_c):
        factories.MembershipFactory(user=user, organization=org, role=Membership.Role.OWNER)
    fleet_c = factories.FleetFactory(organization=org_c)
    client.force_login(user)
    add_url = url(Vehicle, "add")
    data = {
        "organization": org_a.pk,
        "fleet": fleet_c.pk,
        "make": "Ford",
        "model": "E-Transit",
        "battery_capacity_wh": 68000,
        "max_ac_power_w": 11000,
    }
    response = client.post(add_url, with_empty_inlines(client, add_url, data))
    assert response.status_code == 200
    assert "one organization" in str(response.context["adminform"].form.non_field_errors())
    assert not Vehicle.objects.exists()


# (source model, field, target model): every autocomplete field in the admin.
AUTOCOMPLETE = [
    (Property, "organization", Organization),
    (Circuit, "property", Property),
    (Circuit, "parent", Circuit),
    (Zone, "property", Property),
    (Person, "property", Property),
    (Fleet, "depot", Property),
    (Vehicle, "fleet", Fleet),
    (Vehicle, "owner_person", Person),
    (IdToken, "person", Person),
    (IdToken, "vehicle", Vehicle),
    (AccessPolicy, "zone", Zone),
    (Charger, "zone", Zone),
    (Charger, "circuit", Circuit),
    (Connector, "charger", Charger),
]


@pytest.mark.parametrize(
    ("source", "field", "target"), AUTOCOMPLETE, ids=lambda v: getattr(v, "__name__", v)
)
def test_autocomplete_returns_own_rows_only(
    client, manager_a, org_a, org_b, source, field, target
) -> None:
    mine, theirs = BUILDERS[target](org_a), BUILDERS[target](org_b)
    client.force_login(manager_a)
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": source._meta.app_label,
            "model_name": source._meta.model_name,
            "field_name": field,
            "term": "",
        },
    )
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert str(mine.pk) in ids
    assert str(theirs.pk) not in ids


def test_autocomplete_offers_only_orgs_the_user_may_write_to(client, org_a, org_b) -> None:
    """A fleet manager of A who only views B picks fleets of A only."""
    user = factories.UserFactory(username="fleet_a")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.FLEET_MANAGER)
    factories.MembershipFactory(user=user, organization=org_b, role=Membership.Role.VIEWER)
    fleet_a = factories.FleetFactory(organization=org_a)
    fleet_b = factories.FleetFactory(organization=org_b)
    client.force_login(user)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "access", "model_name": "vehicle", "field_name": "fleet"},
    )
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {str(fleet_a.pk)}
    # Both are visible in the fleet changelist all the same.
    listed = client.get(url(Fleet, "changelist")).context["cl"].result_list
    assert set(listed) == {fleet_a, fleet_b}


def test_fleet_manager_changes_vehicles_but_not_chargers(client, org_a) -> None:
    user = factories.UserFactory(username="fleet_manager")
    factories.MembershipFactory(user=user, organization=org_a, role=Membership.Role.FLEET_MANAGER)
    vehicle = factories.VehicleFactory(organization=org_a, license_plate="OLD")
    charger = _charger(org_a)
    client.force_login(user)

    data = {
        "organization": org_a.pk,
        "make": vehicle.make,
        "model": vehicle.model,
        "license_plate": "NEW",
        "battery_capacity_wh": vehicle.battery_capacity_wh,
        "max_ac_power_w": vehicle.max_ac_power_w,
    }
    response = client.post(url(Vehicle, "change", vehicle.pk), data)
    assert response.status_code == 302
    vehicle.refresh_from_db()
    assert vehicle.license_plate == "NEW"

    assert client.get(url(Charger, "change", charger.pk)).context["has_change_permission"] is False
    response = client.post(url(Charger, "change", charger.pk), {"name": "renamed"})
    assert response.status_code == 403
    charger.refresh_from_db()
    assert charger.name == ""
    assert client.get(url(Charger, "add")).status_code == 403


def test_list_filters_offer_own_rows_only(client, manager_a, org_a, org_b) -> None:
    charger_a, charger_b = _charger(org_a), _charger(org_b)
    client.force_login(manager_a)
    response = client.get(url(Charger, "changelist"))
    text = response.text
    assert charger_a.zone.property.name in text
    assert charger_b.zone.property.name not in text
    assert charger_b.zone.name not in text


def test_inlines_show_own_rows_only(client, manager_a, org_a) -> None:
    zone = factories.ZoneFactory(property__organization=org_a)
    charger = factories.ChargerFactory(zone=zone)
    client.force_login(manager_a)
    response = client.get(url(Zone, "change", zone.pk))
    inline_rows = {
        form.instance
        for inline in response.context["inline_admin_formsets"]
        for form in inline.formset.initial_forms
    }
    assert charger in inline_rows


def test_changelist_queries_do_not_grow_with_rows(client, manager_a, org_a, world: World) -> None:
    """list_select_related and annotations keep every changelist at a fixed number
    of queries, however many rows it shows (no N+1)."""
    client.force_login(manager_a)
    changelist = url(world.model, "changelist")
    client.get(changelist)  # warm per-process caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        client.get(changelist)
    if world.model is Organization:
        for _ in range(4):
            org = factories.OrganizationFactory()
            factories.MembershipFactory(user=manager_a, organization=org, role="viewer")
            manager_a.__dict__.pop("_plugboard_org_ids", None)
    else:
        for _ in range(4):
            BUILDERS[world.model](org_a)
    with CaptureQueriesContext(connection) as many:
        response = client.get(changelist)
    assert len(response.context["cl"].result_list) >= 5
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_admin_index_lists_domain_models_for_a_manager(client, manager_a) -> None:
    client.force_login(manager_a)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    listed = {
        model["object_name"] for app in response.context["app_list"] for model in app["models"]
    }
    assert {"Charger", "Property", "Vehicle", "ApiToken"} <= listed
    # Django's own user admin stays with superusers: managers never browse all users.
    assert "User" not in listed
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_superuser_opens_every_page(client, superuser, world: World) -> None:
    client.force_login(superuser)
    assert client.get(url(world.model, "change", world.b.pk)).status_code == 200
    assert client.get(url(world.model, "delete", world.b.pk)).status_code == 200
    add = client.get(url(world.model, "add"))
    assert add.status_code == (403 if world.model in READ_ONLY else 200)
