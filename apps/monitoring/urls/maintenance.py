"""maintenance pages: the charger upload endpoint and the file download."""

from django.urls import URLPattern, path

from apps.monitoring.views import maintenance

urlpatterns: list[URLPattern] = [
    path(
        "maintenance/uploads/<str:token>/",
        maintenance.diagnostics_upload,
        name="diagnostics-upload",
    ),
    # Some chargers append the file name to the location they were given.
    path(
        "maintenance/uploads/<str:token>/<path:name>",
        maintenance.diagnostics_upload,
        name="diagnostics-upload-named",
    ),
    path(
        "maintenance/chargers/<int:pk>/",
        maintenance.charger_maintenance,
        name="charger-maintenance",
    ),
    path(
        "maintenance/diagnostics/<int:pk>/download/",
        maintenance.diagnostics_download,
        name="diagnostics-download",
    ),
]
