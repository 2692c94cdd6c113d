"""Django app config for accounts: connects the auth-signal receivers, registers the checks."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cardreveal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from cardreveal.accounts import checks, receivers

        checks.register()

        user_login_failed.connect(
            receivers.count_failed_password, dispatch_uid="cardreveal.accounts.lockout"
        )
        user_logged_in.connect(
            receivers.stamp_signed_in_at, dispatch_uid="cardreveal.accounts.signed_in_at"
        )
