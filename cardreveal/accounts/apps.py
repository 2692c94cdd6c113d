"""Django app config for accounts: connects the auth, OTP, backup-code and invitation receivers,
registers the checks (the bank sign-in's and the passkeys')."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cardreveal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import post_save
        from django_otp.plugins.otp_static.models import StaticToken

        from cardreveal.accounts import checks, passkey_checks, receivers
        from cardreveal.accounts.signals import (
            account_unlocked,
            cardholder_provisioned,
            otp_failed,
            sign_in_verified,
        )

        checks.register()
        passkey_checks.register_checks()

        user_login_failed.connect(
            receivers.count_failed_password, dispatch_uid="cardreveal.accounts.lockout"
        )
        otp_failed.connect(
            receivers.count_failed_sign_in_code, dispatch_uid="cardreveal.accounts.sign_in_limits"
        )
        for cleared_by in (sign_in_verified, account_unlocked):
            cleared_by.connect(
                receivers.clear_username_failures,
                dispatch_uid="cardreveal.accounts.sign_in_limits.clear",
            )
        post_save.connect(
            receivers.store_backup_code_as_digest,
            sender=StaticToken,
            dispatch_uid="cardreveal.accounts.backup_code_digest",
        )
        user_logged_in.connect(
            receivers.stamp_signed_in_at, dispatch_uid="cardreveal.accounts.signed_in_at"
        )
        user_logged_in.connect(
            receivers.clear_username_failures_on_one_step_sign_in,
            dispatch_uid="cardreveal.accounts.sign_in_limits.clear_one_step",
        )
        cardholder_provisioned.connect(
            receivers.invite_provisioned_cardholder,
            dispatch_uid="cardreveal.accounts.invite_provisioned",
        )
