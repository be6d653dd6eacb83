"""Daily and weekly property reports: build the figures once, then render them as an
email (HTML with CSS bar charts and a text alternative), a PDF (reportlab) or CSV,
and send them to a subscription's recipients once per period.

Periods follow the property's local calendar: a daily report covers one local day
(00:00–24:00 in the property's time zone), a weekly one Monday 00:00 to the next
Monday 00:00. The send tasks run hourly and mail a property's report once it is
REPORT_SEND_HOUR local time on the day after the period, so recipients read it in
the morning wherever the property is.

One module per concern: build.py (periods and the figures), render.py (email,
CSV, PDF), delivery.py (sending). Callers import from this package."""

from __future__ import annotations

from apps.monitoring.services.reports.build import (
    SHOWN_OUTAGES,
    TOP_PROBLEMS,
    Bucket,
    ChargerLine,
    Frequency,
    OutageLine,
    PropertyReport,
    ReportPeriod,
    Revenue,
    report_build,
    report_for_user,
    report_period,
    report_period_last_complete,
    revenue_for,
)
from apps.monitoring.services.reports.delivery import (
    REPORT_SEND_HOUR,
    report_deliver,
    reports_send_due,
    reports_send_latest,
)
from apps.monitoring.services.reports.render import (
    report_csv,
    report_filename,
    report_html,
    report_pdf,
    report_text,
)

__all__ = [
    "REPORT_SEND_HOUR",
    "SHOWN_OUTAGES",
    "TOP_PROBLEMS",
    "Bucket",
    "ChargerLine",
    "Frequency",
    "OutageLine",
    "PropertyReport",
    "ReportPeriod",
    "Revenue",
    "report_build",
    "report_csv",
    "report_deliver",
    "report_filename",
    "report_for_user",
    "report_html",
    "report_pdf",
    "report_period",
    "report_period_last_complete",
    "report_text",
    "reports_send_due",
    "reports_send_latest",
    "revenue_for",
]
