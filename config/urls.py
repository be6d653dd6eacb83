from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from config.api import api, not_found_view

admin.site.site_header = "Plugboard"
admin.site.site_title = "Plugboard"
admin.site.index_title = "Charging management"

urlpatterns = [
    # A manager starts on the live dashboard (which sends anyone not logged in to the
    # admin login, and back); the admin stays at /admin/, linked from both.
    path("", RedirectView.as_view(pattern_name="monitoring:dashboard", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("apps.monitoring.urls")),
    # Anything else under /api/ gets the API's JSON 404, not an HTML page.
    re_path(r"^api/(?P<rest>.*)$", not_found_view),
]
