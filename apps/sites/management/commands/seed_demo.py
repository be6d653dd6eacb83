"""`python manage.py seed_demo`: a believable demo world for `make run`.

Three operators (an apartment company, a car dealership, a delivery fleet), their
properties, panels, zones, access policies, chargers, people, cards and vehicles,
plus two demo logins. Every row is found by a natural key and only created when
missing: a second run creates nothing and changes nothing, and whatever a charger
reported or a user edited since the first run is left as it is.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction

from apps.access.models import AccessGroup, AccessPolicy, Fleet, IdToken, Person, Vehicle
from apps.access.services import id_token_create
from apps.chargers.models import Charger, Connector
from apps.chargers.services import charger_create
from apps.sites.models import Circuit, Membership, Organization, Property, Zone

# Demo logins. Printed at the end of every run; never seeded without DEBUG unless forced.
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "plugboard-admin-demo"  # noqa: S105 (demo-only, printed to the user)
MANAGER_USERNAME = "manager"
MANAGER_PASSWORD = "plugboard-manager-demo"  # noqa: S105 (demo-only, printed to the user)
MANAGER_ORG_SLUG = "elm-court-living"

Admits = AccessPolicy.Admits
ZoneKind = Zone.Kind


@dataclass(frozen=True)
class EV:
    make: str
    model: str
    year: int
    battery_kwh: float
    ac_kw: float
    dc_kw: float | None
    wmi: str  # the VIN's world manufacturer identifier


EVS = {
    "model3": EV("Tesla", "Model 3 Long Range", 2023, 75, 11.5, 250, "5YJ"),
    "modely": EV("Tesla", "Model Y", 2024, 75, 11.5, 250, "7SA"),
    "bolt": EV("Chevrolet", "Bolt EV", 2022, 65, 11.5, 55, "1G1"),
    "ioniq5": EV("Hyundai", "Ioniq 5", 2024, 77.4, 10.9, 235, "KM8"),
    "mache": EV("Ford", "Mustang Mach-E", 2023, 91, 10.5, 150, "3FM"),
    "leaf": EV("Nissan", "Leaf SV Plus", 2021, 60, 6.6, 100, "1N4"),
    "ev6": EV("Kia", "EV6", 2023, 77.4, 10.9, 235, "KNDC"),
    "id4": EV("Volkswagen", "ID.4 Pro", 2024, 77, 11, 135, "1V2"),
    "r1s": EV("Rivian", "R1S", 2024, 135, 11.5, 220, "7PD"),
    "i4": EV("BMW", "i4 eDrive40", 2023, 81, 11, 205, "WBY"),
    # Delivery vans.
    "etransit": EV("Ford", "E-Transit 350", 2024, 68, 11.3, 115, "1FT"),
    "esprinter": EV("Mercedes-Benz", "eSprinter", 2024, 81, 11, 115, "W1Y"),
    "zevo600": EV("BrightDrop", "Zevo 600", 2024, 165, 19.2, 120, "1GB"),
}


@dataclass(frozen=True)
class ChargerModel:
    vendor: str
    model: str
    max_kw: float
    connectors: int
    phases: int
    dc: bool = False


WALLBOX = ChargerModel("Wallbox", "Pulsar Plus 48A", 11.5, 1, 1)
JUICEBOX = ChargerModel("Enel X Way", "JuiceBox Pro 40", 9.6, 1, 1)
CT4000 = ChargerModel("ChargePoint", "CT4021", 15.4, 2, 1)
AUTEL_DUAL = ChargerModel("Autel", "MaxiCharger AC Elite Dual", 19.2, 2, 1)
TERRA_DC = ChargerModel("ABB", "Terra 54", 50, 2, 3, dc=True)
TERRA_HP = ChargerModel("ABB", "Terra 124", 120, 2, 3, dc=True)


@dataclass(frozen=True)
class PersonSpec:
    first: str
    last: str
    kind: str
    unit: str = ""
    ev: str = ""  # key of EVS: a personal vehicle
    plate: str = ""
    groups: tuple[str, ...] = ()


R, E, C, D = Person.Kind.RESIDENT, Person.Kind.EMPLOYEE, Person.Kind.CUSTOMER, Person.Kind.DRIVER
SERVICE, DRIVERS = ("Service customers",), ("Depot drivers",)  # access groups

WORLD: list[dict[str, Any]] = [
    {
        "org": ("Elm Court Living", MANAGER_ORG_SLUG, Organization.Kind.PROPERTY_COMPANY),
        "domain": "elmcourt.example.com",
        "property": {
            "name": "Elm Court Apartments",
            "street": "1200 NW Elm Street",
            "postal_code": "97209",
            "city": "Portland",
            "country": "US",
            "time_zone": "America/Los_Angeles",
            "grid_limit_w": 200_000,
        },
        # (name, parent, limit in kW); parents first.
        "circuits": [
            ("Main switchboard MSB", None, 200),
            ("Garage panel GP-1", "Main switchboard MSB", 100),
            ("Surface lot panel LP-1", "Main switchboard MSB", 40),
        ],
        # (name, kind, whom its access policies admit)
        "zones": [
            ("Residents' garage", ZoneKind.RESIDENTS, [Admits.RESIDENTS]),
            ("Visitor parking", ZoneKind.VISITORS, [Admits.PUBLIC]),
            ("Staff parking", ZoneKind.EMPLOYEES, [Admits.EMPLOYEES]),
        ],
        # (OCPP id prefix, zone, model, numbers, circuit): ids are ELM-GARAGE-01, -02, ...
        "chargers": [
            ("ELM-GARAGE", "Residents' garage", WALLBOX, range(1, 7), "Garage panel GP-1"),
            ("ELM-VISITOR", "Visitor parking", CT4000, range(1, 3), "Surface lot panel LP-1"),
            ("ELM-STAFF", "Staff parking", JUICEBOX, range(1, 2), "Surface lot panel LP-1"),
        ],
        "people": [
            PersonSpec("Maya", "Okafor", R, "101", "model3", "ORE 4821"),
            PersonSpec("Daniel", "Whitfield", R, "104", "bolt", "ORE 7712"),
            PersonSpec("Priya", "Raman", R, "208", "ioniq5", "ORE 3390"),
            PersonSpec("Tomás", "Herrera", R, "212", "leaf", "ORE 5107"),
            PersonSpec("Grace", "Lindqvist", R, "305", "id4", "ORE 6624"),
            PersonSpec("Hiro", "Tanaka", R, "310", "modely", "ORE 2048"),
            PersonSpec("Amara", "Nwosu", R, "402", "ev6", "ORE 9175"),
            PersonSpec("Ben", "Kowalski", R, "407"),
            PersonSpec("Sofia", "Marchetti", R, "501", "r1s", "ORE 1183"),
            PersonSpec("Leila", "Haddad", R, "PH2", "i4", "ORE 8046"),
            PersonSpec("Marcus", "Bell", E, ev="mache", plate="ORE 5530"),
            PersonSpec("Rosa", "Delgado", E),
        ],
    },
    {
        "org": ("Riverside Motors", "riverside-motors", Organization.Kind.DEALERSHIP),
        "domain": "riversidemotors.example.com",
        "property": {
            "name": "Riverside Motors Austin",
            "street": "8800 Research Boulevard",
            "postal_code": "78758",
            "city": "Austin",
            "country": "US",
            "time_zone": "America/Chicago",
            "grid_limit_w": 300_000,
        },
        "circuits": [
            ("Main service", None, 300),
            ("Lot panel", "Main service", 80),
            ("DC fast charger feed", "Main service", 200),
        ],
        "groups": list(SERVICE),
        "zones": [
            ("Customer parking", ZoneKind.CUSTOMERS, [Admits.GROUPS]),
            ("Employee lot", ZoneKind.EMPLOYEES, [Admits.EMPLOYEES]),
            ("Public fast charging", ZoneKind.PUBLIC, [Admits.PUBLIC]),
        ],
        "chargers": [
            ("RIV-CUSTOMER", "Customer parking", AUTEL_DUAL, range(1, 4), "Lot panel"),
            ("RIV-STAFF", "Employee lot", WALLBOX, range(1, 3), "Lot panel"),
            ("RIV-PUBLIC", "Public fast charging", TERRA_DC, range(1, 3), "DC fast charger feed"),
        ],
        "people": [
            PersonSpec("Kevin", "Tran", E, ev="ioniq5", plate="TX KVT-2231"),
            PersonSpec("Alicia", "Moreno", E),
            PersonSpec("Jamal", "Carter", E, ev="ev6", plate="TX JMC-7710"),
            PersonSpec("Erin", "Walsh", E),
            PersonSpec("Oscar", "Lindgren", C, ev="mache", plate="TX OLX-4402", groups=SERVICE),
            PersonSpec("Nadia", "Petrova", C, ev="ioniq5", plate="TX NPV-1187", groups=SERVICE),
            PersonSpec("Chris", "Okonkwo", C, ev="model3", plate="TX CKO-5523", groups=SERVICE),
            PersonSpec("Hannah", "Schultz", C, ev="id4", plate="TX HSZ-9034", groups=SERVICE),
            PersonSpec("Luis", "Ortega", C),
        ],
    },
    {
        "org": ("Swift Parcel Logistics", "swift-parcel", Organization.Kind.FLEET_OPERATOR),
        "domain": "swiftparcel.example.com",
        "property": {
            "name": "Columbus North Depot",
            "street": "4100 Westerville Road",
            "postal_code": "43224",
            "city": "Columbus",
            "country": "US",
            "time_zone": "America/New_York",
            "grid_limit_w": 500_000,
        },
        "circuits": [
            ("Depot switchgear", None, 500),
            ("AC panel A", "Depot switchgear", 100),
            ("AC panel B", "Depot switchgear", 100),
            ("DC cabinet", "Depot switchgear", 250),
        ],
        "groups": list(DRIVERS),
        "fleet": "Columbus delivery vans",
        # Vans identify themselves (Autocharge); drivers' cards are the fallback.
        "zones": [("Van depot", ZoneKind.FLEET_DEPOT, [Admits.FLEET_VEHICLES, Admits.GROUPS])],
        "chargers": [
            ("SWF-DEPOT", "Van depot", AUTEL_DUAL, range(1, 6), "AC panel A"),
            ("SWF-DEPOT", "Van depot", AUTEL_DUAL, range(6, 11), "AC panel B"),
            ("SWF-DEPOT-DC", "Van depot", TERRA_HP, range(1, 3), "DC cabinet"),
        ],
        "people": [
            PersonSpec("Andre", "Jackson", D, groups=DRIVERS),
            PersonSpec("Megan", "O'Brien", D, groups=DRIVERS),
            PersonSpec("Victor", "Nguyen", D, groups=DRIVERS),
            PersonSpec("Tasha", "Greene", D, groups=DRIVERS),
            PersonSpec("Raj", "Patel", D, groups=DRIVERS),
            PersonSpec("Emily", "Brooks", E, ev="bolt", plate="OH EBR-2290"),
        ],
        # 20 vans: (EVS key, how many).
        "vans": [("etransit", 8), ("esprinter", 6), ("zevo600", 6)],
    },
]


def _digest(*parts: str) -> str:
    """Stable pseudo-random hex for a natural key: the same on every run and machine."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest().upper()


def _vin(wmi: str, key: str) -> str:
    # VINs never contain I, O or Q; map the digest onto the allowed alphabet.
    alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
    digest = hashlib.sha256(key.encode()).digest()
    return (wmi + "".join(alphabet[b % len(alphabet)] for b in digest))[:17]


class Seeder:
    """Creates what is missing, through the domain services where they exist, and
    counts what it created."""

    def __init__(self) -> None:
        self.created: Counter[type[models.Model]] = Counter()
        self._new: set[tuple[str, Any]] = set()

    def _record(self, obj: models.Model) -> None:
        self.created[type(obj)] += 1
        self._new.add((obj._meta.label, obj.pk))

    def is_new(self, obj: models.Model) -> bool:
        """Created by this run: only new rows get their many-to-many links, so a
        link a user removed is not put back."""
        return (obj._meta.label, obj.pk) in self._new

    def get_or_create(
        self, model: type[models.Model], defaults: dict[str, Any] | None = None, **keys: Any
    ) -> Any:
        obj, created = model._default_manager.get_or_create(defaults=defaults or {}, **keys)
        if created:
            self._record(obj)
        return obj

    def user(self, username: str, password: str, **flags: Any) -> Any:
        user_model = get_user_model()
        user = user_model._default_manager.filter(username=username).first()
        if user is None:
            # A user who changed the demo password keeps theirs: never reset it here.
            user = user_model._default_manager.create_user(
                username=username, password=password, email=f"{username}@example.com", **flags
            )
            self._record(user)
        return user

    def id_token(self, org: Organization, uid: str, **extra: Any) -> IdToken:
        token = IdToken.objects.filter(organization=org, uid=uid).first()
        if token is not None:
            return token
        person = extra.pop("person", None)
        kind = extra.pop("kind", IdToken.Kind.RFID)
        token = id_token_create(organization=org, uid=uid, person=person, kind=kind)
        # id_token_create does not take these (yet); set them on the new row only.
        if extra:
            for field, value in extra.items():
                setattr(token, field, value)
            token.save(update_fields=list(extra))
        self._record(token)
        return token

    def charger(
        self, ocpp_id: str, zone: Zone, spec: ChargerModel, circuit: Circuit, name: str
    ) -> Charger:
        charger = Charger.objects.filter(charge_point_id=ocpp_id).first()
        if charger is None:
            # No password on purpose: demo chargers use OCPP security profile 0 so a
            # simulator on localhost connects without credentials.
            charger = charger_create(
                charge_point_id=ocpp_id, zone=zone, max_power_w=int(spec.max_kw * 1000), name=name
            )
            charger.vendor, charger.model, charger.phases = spec.vendor, spec.model, spec.phases
            charger.circuit = circuit
            charger.save(update_fields=["vendor", "model", "phases", "circuit"])
            self._record(charger)
        for connector_id in range(1, spec.connectors + 1):
            self.get_or_create(Connector, charger=charger, connector_id=connector_id)
        return charger

    def vehicle(self, org: Organization, ev: EV, key: str, **extra: Any) -> Vehicle:
        defaults = {
            "make": ev.make,
            "model": ev.model,
            "year": ev.year,
            "battery_capacity_wh": int(ev.battery_kwh * 1000),
            "max_ac_power_w": int(ev.ac_kw * 1000),
            "max_dc_power_w": int(ev.dc_kw * 1000) if ev.dc_kw else None,
            **extra,
        }
        return self.get_or_create(
            Vehicle, organization=org, vin=_vin(ev.wmi, key), defaults=defaults
        )

    def site(self, spec: dict[str, Any]) -> Organization:
        name, slug, kind = spec["org"]
        org = self.get_or_create(Organization, slug=slug, defaults={"name": name, "kind": kind})
        prop_fields = dict(spec["property"])
        prop = self.get_or_create(
            Property, organization=org, name=prop_fields.pop("name"), defaults=prop_fields
        )
        circuits: dict[str, Circuit] = {}
        for circuit_name, parent, limit_kw in spec["circuits"]:
            circuits[circuit_name] = self.get_or_create(
                Circuit,
                property=prop,
                name=circuit_name,
                defaults={"parent": circuits.get(parent), "limit_w": limit_kw * 1000},
            )
        groups = {
            g: self.get_or_create(AccessGroup, organization=org, name=g)
            for g in spec.get("groups", [])
        }
        fleet = None
        if "fleet" in spec:
            fleet = self.get_or_create(
                Fleet, organization=org, name=spec["fleet"], defaults={"depot": prop}
            )

        zones: dict[str, Zone] = {}
        for zone_name, zone_kind, admitted in spec["zones"]:
            zone = self.get_or_create(
                Zone, property=prop, name=zone_name, defaults={"kind": zone_kind}
            )
            zones[zone_name] = zone
            for admits in admitted:
                policy = self.get_or_create(AccessPolicy, zone=zone, admits=admits)
                if self.is_new(policy) and admits == Admits.GROUPS:
                    policy.groups.set(groups.values())
                if self.is_new(policy) and admits == Admits.FLEET_VEHICLES and fleet:
                    policy.fleets.set([fleet])
        for prefix, zone_name, model, numbers, circuit_name in spec["chargers"]:
            for n in numbers:
                name = f"{zone_name}, {'DC' if model.dc else 'AC'} {n}"
                self.charger(
                    f"{prefix}-{n:02d}", zones[zone_name], model, circuits[circuit_name], name
                )

        for number, pspec in enumerate(spec["people"], start=1):
            self.person(org, prop, spec["domain"], number, pspec, groups)
        for number in range(1, sum(count for _, count in spec.get("vans", [])) + 1):
            self.van(org, fleet, spec["vans"], number)
        self.alert_rules(org)
        return org

    def alert_rules(self, org: Organization) -> None:
        # The monitoring app's defaults (a rule per kind; existing ones left alone).
        # Imported here: the demo world is the one place sites reaches up to it.
        from apps.monitoring.services.alerts import alert_rules_ensure_defaults

        for rule in alert_rules_ensure_defaults(organization=org):
            self._record(rule)

    def person(
        self,
        org: Organization,
        prop: Property,
        domain: str,
        number: int,
        spec: PersonSpec,
        groups: dict[str, AccessGroup],
    ) -> None:
        local = unicodedata.normalize("NFKD", f"{spec.first}.{spec.last}".lower())
        email = local.encode("ascii", "ignore").decode().replace("'", "") + "@" + domain
        person = self.get_or_create(
            Person,
            organization=org,
            email=email,
            defaults={
                "kind": spec.kind,
                "first_name": spec.first,
                "last_name": spec.last,
                "unit": spec.unit,
                # Customers and drivers are not tied to one property for access rules.
                "property": prop if spec.kind in (R, E) else None,
                "phone": f"+1 555 01{number:02d}",
            },
        )
        if self.is_new(person):
            person.access_groups.add(*(groups[g] for g in spec.groups))
        # A 7-byte NFC UID, as printed on MIFARE cards: 14 hex digits starting 04.
        uid = "04" + _digest(org.slug, email)[:12]
        self.id_token(org, uid, person=person, label=f"{org.slug[:3].upper()}-{number:04d}")
        if spec.ev:
            self.vehicle(org, EVS[spec.ev], email, owner_person=person, license_plate=spec.plate)

    def van(
        self, org: Organization, fleet: Fleet | None, mix: list[tuple[str, int]], number: int
    ) -> None:
        ev_key = [key for key, count in mix for _ in range(count)][number - 1]
        van = self.vehicle(
            org,
            EVS[ev_key],
            f"{org.slug}-van-{number}",
            fleet=fleet,
            license_plate=f"OH SWP-{100 + number}",
        )
        # Autocharge: the charger reports the vehicle's MAC as "VID:<12 hex digits>".
        self.id_token(
            org,
            "VID:" + _digest(org.slug, "van", str(number))[:12],
            kind=IdToken.Kind.VEHICLE_MAC,
            vehicle=van,
            label=f"Van {number:02d}",
        )

    def logins(self) -> None:
        self.user(ADMIN_USERNAME, ADMIN_PASSWORD, is_staff=True, is_superuser=True)
        manager = self.user(MANAGER_USERNAME, MANAGER_PASSWORD, is_staff=True)
        # The manager belongs to the apartment company only: the admin shows them
        # Elm Court and nothing of the dealership or the depot.
        self.get_or_create(
            Membership,
            user=manager,
            organization=Organization.objects.get(slug=MANAGER_ORG_SLUG),
            defaults={"role": Membership.Role.PROPERTY_MANAGER},
        )


class Command(BaseCommand):
    help = "Create the demo world (idempotent). Demo logins: development only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even though DEBUG is off. Never on a production database.",
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the server listens, for the printed login URL.",
        )

    def handle(self, *args: Any, force: bool, base_url: str, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: this looks like production, and seed_demo creates users with "
                "published passwords. Use --force only on a throwaway database."
            )
        seeder = Seeder()
        with transaction.atomic():
            for spec in WORLD:
                seeder.site(spec)
            seeder.logins()
        self._report(seeder, base_url.rstrip("/"))

    def _report(self, seeder: Seeder, base_url: str) -> None:
        if seeder.created:
            made = ", ".join(
                f"{n} {model._meta.verbose_name if n == 1 else model._meta.verbose_name_plural}"
                for model, n in seeder.created.items()
            )
            self.stdout.write(self.style.SUCCESS(f"Demo data created: {made}."))
        else:
            self.stdout.write(self.style.SUCCESS("Demo data already present: nothing to do."))
        totals = (
            f"{Organization.objects.count()} organizations, {Zone.objects.count()} zones, "
            f"{Charger.objects.count()} chargers, {Connector.objects.count()} connectors, "
            f"{Person.objects.count()} people, {Vehicle.objects.count()} vehicles, "
            f"{IdToken.objects.count()} ID tokens"
        )
        ws_url = base_url.replace("http", "ws", 1)
        lines = [
            f"In the database: {totals}.",
            "",
            "DEMO ONLY: these logins have published passwords. Never seed them in production.",
            f"  Log in at {base_url}/admin/",
            f"  superuser:         {ADMIN_USERNAME} / {ADMIN_PASSWORD}",
            f"  property manager:  {MANAGER_USERNAME} / {MANAGER_PASSWORD}"
            "   (sees Elm Court Living only)",
            "  (a password you changed since the first seed stays as you set it)",
            "",
            "Demo chargers have no password (OCPP security profile 0, for localhost only):",
            f"  they connect at {ws_url}/ocpp/<charge point id>, e.g. with",
            f"  .venv/bin/python manage.py simulate_chargers --url {ws_url}"
            " --ids ELM-GARAGE-01 SWF-DEPOT-01",
        ]
        self.stdout.write("\n".join(lines))
