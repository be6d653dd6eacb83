from django.apps import AppConfig


class EnergyConfig(AppConfig):
    name = "apps.energy"
    verbose_name = "Energy"
