"""Django app config for cards."""

from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cardreveal.cards"
    label = "cards"
    verbose_name = "Cards and providers"

    def ready(self) -> None:
        from cardreveal.cards import checks  # noqa: F401  (registers the system checks)
