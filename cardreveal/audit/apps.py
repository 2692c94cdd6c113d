"""Django app config for audit."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "cardreveal.audit"
    label = "audit"
    verbose_name = "Audit trail"
