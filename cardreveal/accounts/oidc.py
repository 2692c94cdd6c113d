"""Sign-in with the bank's identity provider (OpenID Connect, mozilla-django-oidc): the provider
replaces our password step; our code step and each reveal's step-up stay.

A cardholder is matched by the bank's id for them (`ExternalIdentity.external_id`, set by
provisioning) against one claim of the provider's (CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM, `sub` by
default). No account is ever created here: an unknown id is refused, told, and audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from cardreveal.accounts.lockout import account_locked_until
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.signals import external_sign_in_refused
from cardreveal.client_info import client_info

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The session key under which the refusal's reason waits for the page that explains it.
SESSION_REFUSAL = "cardreveal_oidc_refusal"

REFUSALS = {
    "unknown_external_id": "Your bank signed you in, but no cardholder account here is linked "
    "to your bank profile yet. Nothing was created. Contact {bank} and ask them to set up your "
    "access to card security codes.",
    "no_external_id": "Your bank signed you in but did not send your customer number, so we "
    "cannot tell which account is yours. Contact {bank}: their sign-in needs setting up for "
    "this service.",
    "account_inactive": "Your account here is turned off. Contact {bank} to turn it back on.",
    "account_locked": "Your account is locked after too many failed attempts. Wait for the lock "
    "to end, or contact {bank}.",
    "bank_sign_in_error": "Signing in with your bank did not complete. Try again; if it keeps "
    "failing, contact {bank}.",
}


def oidc_enabled() -> bool:
    """True when this deployment signs cardholders in with the bank's identity provider."""
    return bool(getattr(settings, "CARDREVEAL_OIDC_ENABLED", False))


class BankIdentityBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, matching by the bank's id and never creating a user.

    Besides the library's checks (signature by the provider's published keys, expiry, nonce),
    the ID token's audience must name our client and its issuer must be the configured one.
    """

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            self._refuse("bank_sign_in_error", external_id="")
            raise SuspiciousOperation("The ID token was not issued for this client.")
        if payload.get("iss") != settings.CARDREVEAL_OIDC_ISSUER:
            self._refuse("bank_sign_in_error", external_id="")
            raise SuspiciousOperation("The ID token's issuer is not the configured one.")
        return super().get_or_create_user(access_token, id_token, payload)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if _external_id(claims):
            return True
        self._refuse("no_external_id", external_id="")
        return False

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[Any]:
        external_id = _external_id(claims)
        users: QuerySet[Any] = self.UserModel._default_manager.filter(
            external_identity__external_id=external_id
        )
        user = users.first()
        if user is None:
            self._refuse("unknown_external_id", external_id=external_id)
        elif not user.is_active:
            self._refuse("account_inactive", external_id=external_id, user=user)
            return users.none()
        elif account_locked_until(user=user) is not None:
            self._refuse("account_locked", external_id=external_id, user=user)
            return users.none()
        return users

    def describe_user_by_claims(self, claims: dict[str, Any]) -> str:
        return f"external id {_external_id(claims)!r}"

    def create_user(self, claims: dict[str, Any]) -> User:
        raise SuspiciousOperation("Accounts are never created at sign-in; provisioning makes them.")

    def _refuse(self, reason: str, *, external_id: str, user: User | None = None) -> None:
        request = getattr(self, "request", None)
        if request is not None:
            request.session[SESSION_REFUSAL] = reason
        external_sign_in_refused.send(
            sender=AccountSecurity,
            external_id=external_id,
            reason=reason,
            user=user,
            client=client_info(request, channel="web") if request is not None else None,
        )


def _external_id(claims: dict[str, Any]) -> str:
    value = claims.get(settings.CARDREVEAL_OIDC_EXTERNAL_ID_CLAIM)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) else ""
