"""Django app config for provisioning."""

from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "cardreveal.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning by the bank"
