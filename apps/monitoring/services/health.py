"""The charger health score (0–100) and the technician ranking, as pure functions
(inputs are counted from the stored tables in apps/monitoring/selectors/health/).

Measured inputs, over the scoring window:
- faults: times a connector (or the whole charger) went into Faulted, from the
  StatusNotification history (a charger repeating "Faulted" counts once);
- start success: of the start attempts — a connector going to Preparing (1.6) or
  Occupied (2.0.1) when a driver plugs in or presents a card, and remote starts
  sent from Plugboard (the command log) — how many became a charging session
  (a session started on that connector, or the connector went on to Charging;
  for a remote start, a session on the charger within a few minutes). Remote
  starts the charger rejected or never answered count as failed;
- disconnects: the charger's socket closing or the presence sweep finding it
  silent (connection events);
- stalled sessions: sessions that delivered no energy, active ones with no meter
  values for a while, and ones that never end;
- its state now: offline, or a connector Faulted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Points taken off 100, and the most each input can take: a charger that faults all
# day should not hide one that never starts a session.
FAULT_POINTS, FAULT_CAP = 10.0, 30.0
START_FAILURE_CAP = 30.0  # × the share of failed starts
DISCONNECT_POINTS, DISCONNECT_CAP = 4.0, 20.0
STALLED_POINTS, STALLED_CAP = 8.0, 24.0
OFFLINE_NOW_POINTS = 20.0
FAULTED_NOW_POINTS = 20.0

START_STATES = frozenset({"preparing", "occupied"})
DELIVERING_STATES = frozenset({"charging", "suspended_ev", "suspended_evse"})
# A session that starts this long before or after the status change still belongs
# to it (charger clocks and message order are not exact).
START_MATCH_SLACK = timedelta(minutes=2)
# An accepted remote start must lead to a session within this long.
REMOTE_START_WINDOW = timedelta(minutes=5)
# Stalled sessions.
NO_METER_VALUES_AFTER = timedelta(minutes=30)
NEVER_ENDS_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class HealthInputs:
    faults: int = 0
    start_attempts: int = 0
    start_failures: int = 0
    disconnects: int = 0
    stalled_sessions: int = 0
    offline_now: bool = False
    faulted_now: bool = False

    @property
    def start_success_percent(self) -> float | None:
        if not self.start_attempts:
            return None
        return (self.start_attempts - self.start_failures) / self.start_attempts * 100


@dataclass(frozen=True)
class Deduction:
    points: float
    reason: str


@dataclass(frozen=True)
class HealthScore:
    score: int
    deductions: tuple[Deduction, ...]

    @property
    def reasons(self) -> list[str]:
        return [d.reason for d in self.deductions]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def health_score(inputs: HealthInputs) -> HealthScore:
    """100 for a charger with nothing against it; each problem takes points off,
    its reasons listed with the biggest first."""
    deductions: list[Deduction] = []
    if inputs.offline_now:
        deductions.append(Deduction(OFFLINE_NOW_POINTS, "offline now"))
    if inputs.faulted_now:
        deductions.append(Deduction(FAULTED_NOW_POINTS, "a connector is faulted now"))
    if inputs.faults:
        deductions.append(
            Deduction(min(FAULT_CAP, FAULT_POINTS * inputs.faults), _plural(inputs.faults, "fault"))
        )
    if inputs.start_failures and inputs.start_attempts:
        share = inputs.start_failures / inputs.start_attempts
        deductions.append(
            Deduction(
                START_FAILURE_CAP * share,
                f"{inputs.start_failures} of {inputs.start_attempts} start attempts failed",
            )
        )
    if inputs.disconnects:
        deductions.append(
            Deduction(
                min(DISCONNECT_CAP, DISCONNECT_POINTS * inputs.disconnects),
                _plural(inputs.disconnects, "disconnect"),
            )
        )
    if inputs.stalled_sessions:
        deductions.append(
            Deduction(
                min(STALLED_CAP, STALLED_POINTS * inputs.stalled_sessions),
                _plural(inputs.stalled_sessions, "stalled session"),
            )
        )
    deductions.sort(key=lambda d: -d.points)
    score = round(max(0.0, 100.0 - sum(d.points for d in deductions)))
    return HealthScore(score=score, deductions=tuple(deductions))


def health_rank_key(score: HealthScore, inputs: HealthInputs, name: str) -> tuple[object, ...]:
    """Who needs a technician first: the lowest score; among equals, the one down
    now, then the one with more faults; then by name for a stable order."""
    return (score.score, not (inputs.offline_now or inputs.faulted_now), -inputs.faults, name)


# --- counting the inputs from plain rows --------------------------------------------


def fault_count(
    rows: Sequence[tuple[object, datetime, str]], initial: dict[object, str] | None = None
) -> int:
    """Transitions into Faulted. `rows` are (connector key, time, status) in time
    order; `initial` the status of each key before the first row."""
    last = dict(initial or {})
    count = 0
    for key, _at, status in rows:
        if status == "faulted" and last.get(key) != "faulted":
            count += 1
        last[key] = status
    return count


def start_outcomes(
    *,
    status_rows: Sequence[tuple[object, datetime, str]],
    sessions: Iterable[tuple[object, datetime, datetime | None]],
    now: datetime,
    initial: dict[object, str] | None = None,
) -> tuple[int, int]:
    """(attempts, failures) of plug-in/authorize starts. An attempt is a connector
    entering Preparing/Occupied; it succeeded if the connector went on to deliver or
    a session (connector key, started, stopped or None) ran on it while it was in
    that state — 2.0.1 stations may start the transaction at authorization, before
    the cable is in. An attempt still open (no later status) is judged only after
    15 minutes."""
    spans_by_key: dict[object, list[tuple[datetime, datetime | None]]] = {}
    for key, started, stopped in sessions:
        spans_by_key.setdefault(key, []).append((started, stopped))
    last = dict(initial or {})
    open_since: dict[object, datetime] = {}
    attempts = failures = 0

    def judge(key: object, entered: datetime, left: datetime, delivered: bool) -> None:
        nonlocal attempts, failures
        attempts += 1
        ran = any(
            started <= left + START_MATCH_SLACK
            and (stopped is None or stopped >= entered - START_MATCH_SLACK)
            for started, stopped in spans_by_key.get(key, [])
        )
        if not (delivered or ran):
            failures += 1

    for key, at, status in status_rows:
        previous = last.get(key)
        if key in open_since and status not in START_STATES:
            judge(key, open_since.pop(key), at, status in DELIVERING_STATES)
        elif status in START_STATES and previous not in START_STATES | DELIVERING_STATES:
            open_since[key] = at
        last[key] = status
    for key, entered in open_since.items():
        if now - entered >= timedelta(minutes=15):
            judge(key, entered, now, False)
    return attempts, failures


def remote_start_outcomes(
    *,
    commands: Iterable[tuple[datetime, str, str]],
    session_starts: Iterable[datetime],
    now: datetime,
) -> tuple[int, int]:
    """(attempts, failures) of remote starts: (sent at, outcome, charger's answer)
    from the command log, and the charger's session start times. Pending commands
    and accepted ones younger than the window are not judged yet."""
    starts = sorted(session_starts)
    attempts = failures = 0
    for sent_at, outcome, answer in commands:
        if outcome == "pending":
            continue
        accepted = outcome == "answered" and answer.lower() == "accepted"
        if accepted:
            if now - sent_at < REMOTE_START_WINDOW and not any(
                sent_at - START_MATCH_SLACK <= at for at in starts
            ):
                continue
            attempts += 1
            if not any(
                sent_at - START_MATCH_SLACK <= at <= sent_at + REMOTE_START_WINDOW for at in starts
            ):
                failures += 1
        else:
            attempts += 1
            failures += 1
    return attempts, failures


def session_stall_reason(
    *,
    active: bool,
    started_at: datetime,
    energy_wh: int | None,
    last_sample_at: datetime | None,
    now: datetime,
) -> str | None:
    """Why a session counts as stalled, or None."""
    if not active:
        return "delivered no energy" if energy_wh == 0 else None
    if now - started_at >= NEVER_ENDS_AFTER:
        return "has not ended after 24 hours"
    if now - (last_sample_at or started_at) >= NO_METER_VALUES_AFTER:
        return "no meter values for 30 minutes"
    return None
