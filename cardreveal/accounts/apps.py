"""Django app config for accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cardreveal.accounts"
    label = "accounts"
    verbose_name = "Accounts"
