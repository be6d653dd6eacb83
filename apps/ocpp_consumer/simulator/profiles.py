"""Charging profiles as a station applies them, for both OCPP versions.

Profiles arrive as the `ocpp` package hands them to a handler (snake_case dicts);
`Profile.from_v16` / `Profile.from_v201` turn them into one shape, and
`ProfileStore.limit_w` answers the one question the simulator asks every tick:
how much power may this connector draw now?

Rules (OCPP 1.6 §3.13, 2.0.1 K01/K08): within a purpose the valid profile with
the highest stack level wins; a TxProfile overrides the TxDefaultProfile for the
transaction it names; the station-wide maximum (ChargePointMaxProfile /
ChargingStationMaxProfile, connector 0) caps the sum of all connectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

STATION_MAX = "ChargePointMaxProfile"  # 2.0.1: ChargingStationMaxProfile, mapped here
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
_PURPOSES = {
    "ChargePointMaxProfile": STATION_MAX,
    "ChargingStationMaxProfile": STATION_MAX,
    "TxDefaultProfile": TX_DEFAULT,
    "TxProfile": TX,
}


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Period:
    start_s: int
    limit: float  # in the schedule's unit
    phases: int | None = None


@dataclass(frozen=True)
class Profile:
    id: int
    connector_id: int  # 0: the whole station
    stack_level: int
    purpose: str  # STATION_MAX, TX_DEFAULT or TX
    kind: str  # Absolute, Recurring, Relative
    unit: str  # "W" or "A"
    periods: tuple[Period, ...]
    start_schedule: datetime | None = None
    duration_s: int | None = None
    recurrency: str | None = None  # Daily, Weekly
    transaction_id: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @classmethod
    def from_v16(cls, connector_id: int, raw: dict[str, Any]) -> Profile:
        schedule = raw["charging_schedule"]
        return cls._build(
            raw, schedule, connector_id=connector_id, profile_id=raw["charging_profile_id"]
        )

    @classmethod
    def from_v201(cls, evse_id: int, raw: dict[str, Any]) -> Profile:
        # 2.0.1 allows up to three schedules (for different rate units); the first
        # is the one a simple AC station uses.
        schedule = raw["charging_schedule"][0]
        return cls._build(raw, schedule, connector_id=evse_id, profile_id=raw["id"])

    @classmethod
    def _build(
        cls, raw: dict[str, Any], schedule: dict[str, Any], *, connector_id: int, profile_id: int
    ) -> Profile:
        periods = tuple(
            Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
            for p in sorted(schedule["charging_schedule_period"], key=lambda p: p["start_period"])
        )
        tx = raw.get("transaction_id")
        return cls(
            id=int(profile_id),
            connector_id=connector_id,
            stack_level=int(raw["stack_level"]),
            purpose=_PURPOSES[raw["charging_profile_purpose"]],
            kind=raw["charging_profile_kind"],
            unit=schedule["charging_rate_unit"],
            periods=periods,
            start_schedule=parse_time(schedule.get("start_schedule")),
            duration_s=schedule.get("duration"),
            recurrency=raw.get("recurrency_kind"),
            transaction_id=None if tx is None else str(tx),
            valid_from=parse_time(raw.get("valid_from")),
            valid_to=parse_time(raw.get("valid_to")),
        )

    def limit_at(self, now: datetime, tx_started_at: datetime | None) -> Period | None:
        """The period in force at `now`, or None when the profile does not apply."""
        if self.valid_from and now < self.valid_from:
            return None
        if self.valid_to and now >= self.valid_to:
            return None
        if self.kind == "Relative":
            if tx_started_at is None:
                return None
            start = tx_started_at
        elif self.kind == "Recurring":
            anchor = self.start_schedule or now
            cycle = timedelta(days=7 if self.recurrency == "Weekly" else 1)
            elapsed = (now - anchor) % cycle if now >= anchor else None
            if elapsed is None:
                return None
            start = now - elapsed
        else:
            start = self.start_schedule or tx_started_at or now
        offset = (now - start).total_seconds()
        if offset < 0 or (self.duration_s is not None and offset >= self.duration_s):
            return None
        current = None
        for period in self.periods:
            if period.start_s <= offset:
                current = period
        return current


def to_watts(period: Period, unit: str, *, voltage_v: float, phases: int) -> float:
    if unit == "W":
        return period.limit
    return period.limit * voltage_v * (period.phases or phases)


class ProfileStore:
    """The profiles a station holds, with the limit they set."""

    def __init__(self) -> None:
        self.profiles: dict[int, Profile] = {}

    def install(self, profile: Profile) -> None:
        # Same id replaces; same purpose, stack level and connector replaces too (1.6 §5.16.3).
        for pid, other in list(self.profiles.items()):
            if pid == profile.id or (
                other.purpose == profile.purpose
                and other.stack_level == profile.stack_level
                and other.connector_id == profile.connector_id
            ):
                del self.profiles[pid]
        self.profiles[profile.id] = profile

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> int:
        """Remove the matching profiles; returns how many went."""
        purpose = _PURPOSES.get(purpose, purpose) if purpose else None
        gone = [
            p.id
            for p in self.profiles.values()
            if (profile_id is None or p.id == profile_id)
            and (connector_id is None or p.connector_id == connector_id)
            and (purpose is None or p.purpose == purpose)
            and (stack_level is None or p.stack_level == stack_level)
        ]
        for pid in gone:
            del self.profiles[pid]
        return len(gone)

    def drop_transaction(self, transaction_id: str) -> None:
        """A TxProfile ends with its transaction."""
        for pid, p in list(self.profiles.items()):
            if p.purpose == TX and p.transaction_id == transaction_id:
                del self.profiles[pid]

    def _winner(
        self,
        purpose: str,
        connector_ids: tuple[int, ...],
        now: datetime,
        tx_started_at: datetime | None,
        transaction_id: str | None = None,
    ) -> tuple[Profile, Period] | None:
        candidates = sorted(
            (
                p
                for p in self.profiles.values()
                if p.purpose == purpose
                and p.connector_id in connector_ids
                and (purpose != TX or p.transaction_id in (None, transaction_id))
            ),
            key=lambda p: (p.stack_level, p.connector_id),  # a connector's beats the default
            reverse=True,
        )
        for profile in candidates:
            period = profile.limit_at(now, tx_started_at)
            if period is not None:
                return profile, period
        return None

    def connector_limit_w(
        self,
        connector_id: int,
        now: datetime,
        *,
        tx_started_at: datetime | None,
        transaction_id: str | None,
        voltage_v: float,
        phases: int,
    ) -> float | None:
        """The connector's own limit (TxProfile, else TxDefaultProfile), None when unlimited."""
        found = None
        if transaction_id is not None:
            found = self._winner(TX, (connector_id,), now, tx_started_at, transaction_id)
        if found is None:
            found = self._winner(TX_DEFAULT, (connector_id, 0), now, tx_started_at)
        if found is None:
            return None
        profile, period = found
        return to_watts(period, profile.unit, voltage_v=voltage_v, phases=phases)

    def station_limit_w(self, now: datetime, *, voltage_v: float, phases: int) -> float | None:
        found = self._winner(STATION_MAX, (0,), now, None)
        if found is None:
            return None
        profile, period = found
        return to_watts(period, profile.unit, voltage_v=voltage_v, phases=phases)

    def composite(
        self,
        connector_id: int,
        start: datetime,
        duration_s: int,
        *,
        tx_started_at: datetime | None,
        transaction_id: str | None,
        voltage_v: float,
        phases: int,
        unit: str = "W",
    ) -> list[tuple[int, float]]:
        """The combined schedule (start offset, limit in `unit`) over `duration_s`,
        sampled at every boundary any profile could change at (minute resolution
        plus the periods' own starts)."""
        boundaries = {0}
        for p in self.profiles.values():
            for period in p.periods:
                anchor = p.start_schedule or tx_started_at or start
                offset = int((anchor - start).total_seconds()) + period.start_s
                if 0 <= offset < duration_s:
                    boundaries.add(offset)
            if p.duration_s is not None:
                anchor = p.start_schedule or tx_started_at or start
                end = int((anchor - start).total_seconds()) + p.duration_s
                if 0 <= end < duration_s:
                    boundaries.add(end)
        result: list[tuple[int, float]] = []
        for offset in sorted(boundaries):
            at = start + timedelta(seconds=offset)
            limits = [
                x
                for x in (
                    self.connector_limit_w(
                        connector_id,
                        at,
                        tx_started_at=tx_started_at,
                        transaction_id=transaction_id,
                        voltage_v=voltage_v,
                        phases=phases,
                    ),
                    self.station_limit_w(at, voltage_v=voltage_v, phases=phases),
                )
                if x is not None
            ]
            if not limits:
                continue
            limit_w = min(limits)
            value = limit_w if unit == "W" else limit_w / (voltage_v * phases)
            value = round(value, 1)
            if not result or result[-1][1] != value:
                result.append((offset, value))
        return result
