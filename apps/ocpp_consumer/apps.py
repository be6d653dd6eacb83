from django.apps import AppConfig


class OcppConsumerConfig(AppConfig):
    name = "apps.ocpp_consumer"
    verbose_name = "OCPP"
