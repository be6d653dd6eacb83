from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "apps.sites"
    verbose_name = "Sites"
