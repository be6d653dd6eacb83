"""Report pages: /reports/ lists the user's properties; each has its report as a
page, a PDF and a CSV (?frequency=daily|weekly&date=YYYY-MM-DD)."""

from django.urls import URLPattern, path

from apps.monitoring.views import reports

urlpatterns: list[URLPattern] = [
    path("reports/", reports.report_index, name="report_index"),
    path("reports/health/", reports.health_ranking, name="health_ranking"),
    path("reports/<int:property_id>/", reports.report_detail, name="report_detail"),
    path("reports/<int:property_id>/pdf", reports.report_pdf, name="report_pdf"),
    path("reports/<int:property_id>/csv", reports.report_csv, name="report_csv"),
]
