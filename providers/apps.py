"""Django app config for providers: registers the system check on the provider list."""

from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Providers"

    def ready(self) -> None:
        from providers import checks  # noqa: F401  (registers the system check)
