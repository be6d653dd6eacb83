"""Monitoring pages (dashboard, charger page, reports, maintenance), one module per
concern; mounted at the site root by config/urls.py under the "monitoring" namespace."""

from apps.monitoring.urls import dashboard, maintenance, reports

app_name = "monitoring"
urlpatterns = [*dashboard.urlpatterns, *reports.urlpatterns, *maintenance.urlpatterns]
