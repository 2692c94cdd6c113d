"""Django app config for cards: registers the system checks, connects the receivers."""

from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "cardreveal.cards"
    label = "cards"
    verbose_name = "Cards and providers"

    def ready(self) -> None:
        from cardreveal.audit.signals import reveal_disowned
        from cardreveal.cards import checks, receivers  # noqa: F401  (checks registers itself)

        reveal_disowned.connect(
            receivers.freeze_disowned_card, dispatch_uid="cardreveal.cards.freeze_disowned_card"
        )
