from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Plugboard"
admin.site.site_title = "Plugboard"
admin.site.index_title = "Charging management"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
]
