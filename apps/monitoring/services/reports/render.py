"""The report's renderings: the email (HTML and text), CSV and PDF (reportlab),
and the file name for downloads and attachments."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string

from apps.monitoring.services.reports.build import Frequency, PropertyReport
from apps.monitoring.services.uptime import Uptime


def report_html(report: PropertyReport, *, standalone: bool = True) -> str:
    return render_to_string(
        "monitoring/reports/email.html", {"report": report, "standalone": standalone}
    )


def report_text(report: PropertyReport) -> str:
    return render_to_string("monitoring/reports/email.txt", {"report": report})


def report_csv(report: PropertyReport) -> str:
    """The figures as CSV: a summary, one row per charger, one per hour/day."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Report", report.property_name, report.period.frequency, report.period.label])
    writer.writerow(["Period start", report.period.start.isoformat()])
    writer.writerow(["Period end", report.period.end.isoformat()])
    writer.writerow([])
    writer.writerow(["Metric", "Value"])
    for name, value in _summary_rows(report):
        writer.writerow([name, value])
    writer.writerow([])
    writer.writerow(
        [
            "Charger",
            "Name",
            "NEVI uptime %",
            "Plain uptime %",
            "Outage minutes",
            "Excluded minutes",
            "Faults",
            "Sessions",
            "Energy kWh",
            "Health score",
            "Reasons",
        ]
    )
    for line in report.chargers:
        writer.writerow(
            [
                line.charge_point_id,
                line.name,
                _csv_percent(line.uptime, "nevi_percent"),
                _csv_percent(line.uptime, "plain_percent"),
                f"{line.uptime.outage_minutes:.1f}",
                f"{line.uptime.excluded_minutes:.1f}",
                line.faults,
                line.sessions,
                f"{line.energy_wh / 1000:.3f}",
                line.score,
                "; ".join(line.reasons),
            ]
        )
    writer.writerow([])
    writer.writerow(
        [
            "Hour" if report.period.frequency == Frequency.DAILY else "Day",
            "Sessions",
            "Energy kWh",
            "NEVI uptime %",
            "Plain uptime %",
        ]
    )
    for bucket in report.buckets:
        writer.writerow(
            [
                bucket.label,
                bucket.sessions,
                f"{bucket.energy_wh / 1000:.3f}",
                _csv_percent(bucket.uptime, "nevi_percent"),
                _csv_percent(bucket.uptime, "plain_percent"),
            ]
        )
    writer.writerow([])
    writer.writerow(
        [
            "Outage start",
            "Outage end",
            "Charger",
            "Connector",
            "Minutes",
            "Excluded minutes",
            "Reasons",
        ]
    )
    for outage_line in report.outages:
        writer.writerow(
            [
                outage_line.outage.start.isoformat(),
                outage_line.outage.end.isoformat(),
                outage_line.charge_point_id,
                outage_line.connector_id,
                f"{outage_line.outage.minutes:.1f}",
                f"{outage_line.outage.excluded_minutes:.1f}",
                " + ".join(outage_line.outage.reasons),
            ]
        )
    return out.getvalue()


NOT_IN_SERVICE = "not in service"


def _percent(uptime: Uptime, figure: str, digits: int = 2, suffix: str = "%") -> str:
    """An uptime figure for people: nothing in service in the period is said so, not
    shown as 100 %."""
    if not uptime.period_minutes:
        return NOT_IN_SERVICE
    return f"{getattr(uptime, figure):.{digits}f}{suffix}"


def _csv_percent(uptime: Uptime, figure: str) -> str:
    """A figure for spreadsheets: empty when nothing was in service."""
    return f"{getattr(uptime, figure):.3f}" if uptime.period_minutes else ""


def _summary_rows(report: PropertyReport) -> list[tuple[str, str]]:
    return [
        ("NEVI uptime", _percent(report.uptime, "nevi_percent")),
        ("Plain uptime", _percent(report.uptime, "plain_percent")),
        ("Outage minutes", f"{report.uptime.outage_minutes:.0f}"),
        ("Excluded minutes", f"{report.uptime.excluded_minutes:.0f}"),
        ("Faults", str(report.faults)),
        ("Sessions", str(report.sessions)),
        ("Energy", f"{report.energy_kwh:.1f} kWh"),
        ("Revenue", report.revenue.display),
    ]


def report_pdf(report: PropertyReport) -> bytes:
    """The report as a PDF: title, summary table, the energy bar chart, the chargers
    and the problem chargers."""
    # reportlab is imported here: only this rendering needs it.
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=report.title,
        author="Plugboard",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    styles = getSampleStyleSheet()
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    story: list[object] = [
        Paragraph(_escape(report.title), styles["Title"]),
        Paragraph(
            _escape(
                f"{report.organization_name} · times in {report.time_zone} · "
                f"uptime per 23 CFR 680.116(b), policy: {report.policy.source}"
            ),
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
        Table(
            [["Metric", "Value"], *_summary_rows(report)], colWidths=[60 * mm, 60 * mm], style=grid
        ),
        Spacer(1, 6 * mm),
        Paragraph("Energy delivered (kWh)", styles["Heading3"]),
    ]
    drawing = Drawing(180 * mm, 60 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 10 * mm, 10 * mm
    chart.width, chart.height = 165 * mm, 45 * mm
    chart.data = [[b.energy_wh / 1000 for b in report.buckets] or [0]]
    chart.categoryAxis.categoryNames = [b.label for b in report.buckets] or [""]
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle = 45 if len(report.buckets) > 7 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(report.buckets) > 7 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#2f7ed8")
    drawing.add(chart)
    story.append(drawing)
    per_bucket: list[list[object]] = [
        ["Day", *(b.label for b in report.buckets)],
        ["Sessions", *(b.sessions for b in report.buckets)],
        ["NEVI %", *(_percent(b.uptime, "nevi_percent", 1, "") for b in report.buckets)],
    ]
    if report.period.frequency != Frequency.DAILY:  # 24 hour columns do not fit a page
        story.append(Table(per_bucket, style=grid))
    story += [Spacer(1, 4 * mm), Paragraph("Chargers", styles["Heading3"])]
    rows: list[list[object]] = [
        ["Charger", "NEVI %", "Plain %", "Outage min", "Faults", "Sessions", "kWh", "Score"]
    ]
    rows += [
        [
            line.charge_point_id,
            _percent(line.uptime, "nevi_percent", suffix=""),
            _percent(line.uptime, "plain_percent", suffix=""),
            f"{line.uptime.outage_minutes:.0f}",
            line.faults,
            line.sessions,
            f"{line.energy_wh / 1000:.1f}",
            line.score,
        ]
        for line in report.chargers
    ]
    story.append(Table(rows, repeatRows=1, style=grid))
    if report.outages:
        story += [
            Spacer(1, 4 * mm),
            Paragraph(
                f"Longest outages ({len(report.outages)} in all; the CSV lists each)",
                styles["Heading3"],
            ),
        ]
        outage_rows: list[list[object]] = [
            ["Start", "Charger", "Connector", "Minutes", "Excluded", "Why"]
        ]
        outage_rows += [
            [
                f"{line.outage.start.astimezone(ZoneInfo(report.time_zone)):%Y-%m-%d %H:%M}",
                line.charge_point_id,
                line.connector_id,
                f"{line.outage.minutes:.0f}",
                f"{line.outage.excluded_minutes:.0f}",
                " + ".join(line.outage.reasons),
            ]
            for line in report.longest_outages
        ]
        story.append(Table(outage_rows, repeatRows=1, style=grid))
    story += [Spacer(1, 4 * mm), Paragraph("Top problem chargers", styles["Heading3"])]
    if report.problems:
        problem_rows: list[list[object]] = [["Charger", "Score", "Why"]]
        problem_rows += [
            [
                h.charge_point_id,
                h.score.score,
                Paragraph(_escape("; ".join(h.reasons)), styles["Normal"]),
            ]
            for h in report.problems
        ]
        story.append(
            Table(problem_rows, colWidths=[40 * mm, 20 * mm, 120 * mm], repeatRows=1, style=grid)
        )
    else:
        story.append(Paragraph("None: every charger scored 100.", styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def report_filename(report: PropertyReport, extension: str) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in report.property_name).strip("-").lower()
    return f"{safe}-{report.period.frequency}-{report.period.first_day:%Y-%m-%d}.{extension}"
