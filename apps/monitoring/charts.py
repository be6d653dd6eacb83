"""Charts drawn on the server as inline SVG: no JavaScript library, no CDN.

`session_chart` draws a session's power, energy and state of charge as three
panels over one time axis (three quantities with three units do not share a y
axis honestly). The markup is built from numbers we format ourselves and text
escaped by Django, so it is safe to put into a page as is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from math import floor, log10

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Point = tuple[datetime, float]

WIDTH = 720
PANEL_HEIGHT = 110
GAP = 34
LEFT = 56
RIGHT = 16
TOP = 24
BOTTOM = 28


@dataclass(frozen=True)
class Series:
    """One panel: a named quantity in a unit, and its points in time order."""

    label: str
    unit: str
    points: Sequence[Point]
    css_class: str
    # The y axis starts at 0 and ends at least here (SoC: 100).
    floor_max: float = 0.0
    # Drawn as steps (the value holds until the next sample) or as a line.
    steps: bool = False


def nice_max(value: float) -> float:
    """The smallest "round" number (1, 2, 2.5, 5 × 10^n) at or above `value`."""
    if value <= 0:
        return 1.0
    exponent = floor(log10(value))
    base = 10.0**exponent
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * base + 1e-12:
            return step * base
    return 10.0 * base  # pragma: no cover (the loop always returns)


def _fmt(value: float) -> str:
    """A tick label: no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _coord(value: float) -> str:
    return f"{value:.1f}"


def _time_label(at: datetime) -> str:
    return timezone.localtime(at).strftime("%H:%M")


def session_chart(
    series: Sequence[Series],
    *,
    title: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> SafeString:
    """An SVG of one panel per series, sharing the time axis from `start` to `end`
    (by default the first and last point of any series). Empty series are drawn as
    an empty panel saying "no data", so the reader knows the charger did not report
    that quantity."""
    instants = [at for s in series for at, _ in s.points]
    t0 = start or (min(instants) if instants else None)
    t1 = end or (max(instants) if instants else None)
    span = (t1 - t0).total_seconds() if t0 and t1 else 0.0
    plot_w = WIDTH - LEFT - RIGHT
    height = TOP + len(series) * (PANEL_HEIGHT + GAP) - GAP + BOTTOM

    def x_of(at: datetime) -> float:
        if not t0 or span <= 0:
            return LEFT + plot_w / 2
        return LEFT + (at - t0).total_seconds() / span * plot_w

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_description(series))}</desc>',
    ]
    for index, s in enumerate(series):
        top = TOP + index * (PANEL_HEIGHT + GAP)
        bottom = top + PANEL_HEIGHT
        values = [v for _, v in s.points]
        y_max = nice_max(max([*values, s.floor_max, 0.0]))

        def y_of(value: float, top: float = top, y_max: float = y_max) -> float:
            return top + PANEL_HEIGHT - max(value, 0.0) / y_max * PANEL_HEIGHT

        parts.append(f'<g class="panel {escape(s.css_class)}">')
        parts.append(
            f'<text class="panel-label" x="{LEFT}" y="{_coord(top - 8)}">'
            f"{escape(s.label)} ({escape(s.unit)})</text>"
        )
        for fraction in (0.0, 0.5, 1.0):
            y = top + PANEL_HEIGHT - fraction * PANEL_HEIGHT
            parts.append(
                f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                f'y1="{_coord(y)}" y2="{_coord(y)}"/>'
            )
            parts.append(
                f'<text class="tick" x="{LEFT - 6}" y="{_coord(y + 4)}" text-anchor="end">'
                f"{_fmt(y_max * fraction)}</text>"
            )
        if not s.points:
            parts.append(
                f'<text class="no-data" x="{_coord(LEFT + plot_w / 2)}" '
                f'y="{_coord(top + PANEL_HEIGHT / 2)}" text-anchor="middle">no data</text>'
            )
        else:
            coords: list[str] = []
            previous_y: float | None = None
            for at, value in s.points:
                x, y = x_of(at), y_of(value)
                if s.steps and previous_y is not None:
                    coords.append(f"{_coord(x)},{_coord(previous_y)}")
                coords.append(f"{_coord(x)},{_coord(y)}")
                previous_y = y
            if s.steps and t1 is not None and previous_y is not None:
                coords.append(f"{_coord(x_of(t1))},{_coord(previous_y)}")
            parts.append(f'<polyline class="line" points="{" ".join(coords)}"/>')
            last_at, last_value = s.points[-1]
            parts.append(
                f'<circle class="dot" cx="{_coord(x_of(last_at))}" '
                f'cy="{_coord(y_of(last_value))}" r="3"/>'
            )
        parts.append(
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{_coord(bottom)}" y2="{_coord(bottom)}"/>'
        )
        parts.append("</g>")
    if t0 and t1:
        axis_y = height - BOTTOM + 18
        ticks = [t0] if span <= 0 else [t0, t0 + (t1 - t0) / 2, t1]
        anchors = ["middle"] if span <= 0 else ["start", "middle", "end"]
        for at, anchor in zip(ticks, anchors, strict=True):
            parts.append(
                f'<text class="tick time" x="{_coord(x_of(at))}" y="{axis_y}" '
                f'text-anchor="{anchor}">{escape(_time_label(at))}</text>'
            )
    parts.append("</svg>")
    # Every interpolated value above is a number we formatted or text run through
    # escape(): the markup is safe.
    # Every text in the SVG went through escape() above; the rest are numbers we format.
    return mark_safe("".join(parts))  # noqa: S308


def _description(series: Sequence[Series]) -> str:
    texts = []
    for s in series:
        if not s.points:
            texts.append(f"{s.label}: no data")
            continue
        values = [v for _, v in s.points]
        texts.append(
            f"{s.label}: {len(values)} readings, latest {_fmt(values[-1])} {s.unit}, "
            f"highest {_fmt(max(values))} {s.unit}"
        )
    return "; ".join(texts) + "."
