"""Dashboard pages: the live overview and the charger page with its tabs."""

from django.urls import URLPattern, path

from apps.monitoring.views import charger, dashboard

urlpatterns: list[URLPattern] = [
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/live/", dashboard.dashboard_live, name="dashboard-live"),
    path("dashboard/chargers/<str:charge_point_id>/", charger.charger_overview, name="charger"),
    path(
        "dashboard/chargers/<str:charge_point_id>/live/",
        charger.charger_live,
        name="charger-live",
    ),
    path(
        "dashboard/chargers/<str:charge_point_id>/sessions/",
        charger.charger_sessions,
        name="charger-sessions",
    ),
    path(
        "dashboard/chargers/<str:charge_point_id>/messages/",
        charger.charger_messages,
        name="charger-messages",
    ),
    path(
        "dashboard/chargers/<str:charge_point_id>/configuration/",
        charger.charger_configuration,
        name="charger-configuration",
    ),
    path(
        "dashboard/chargers/<str:charge_point_id>/commands/<slug:hand>/",
        charger.charger_command,
        name="charger-command",
    ),
]
