"""Django app config for audit: connects the receivers that record account events."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "cardreveal.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from cardreveal.audit import checks, receivers

        receivers.connect()
        checks.register()
