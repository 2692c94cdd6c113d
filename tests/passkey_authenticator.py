"""A software passkey authenticator for tests, built on the `fido2` library's WebAuthn structures.

It plays the phone's part in the mobile flow: makes an ES256 credential for the RP ID in the
creation options, and signs assertions for request options, with the origin the app or browser
would name. It shares no code with cardreveal: what it produces is what a real authenticator does,
so the server is tested against an independent implementation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationObject,
    AttestedCredentialData,
    AuthenticatorData,
    CollectedClientData,
)

_FLAGS = AuthenticatorData.FLAG


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    """`origin`: what the client names (the site's https origin, or an Android app's
    android:apk-key-hash: origin). `user_verified`: whether it checks the person (PIN, biometric).
    `counts`: whether it keeps a signature counter (platform passkeys that sync often do not)."""

    origin: str
    user_verified: bool = True
    counts: bool = True
    credentials: list[SoftCredential] = field(default_factory=list)

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """navigator.credentials.create(): a new credential for `options` (the JSON creation
        options), as the RegistrationResponseJSON a client sends."""
        rp_id = options["rp"]["id"]
        private_key = ec.generate_private_key(ec.SECP256R1())
        credential = SoftCredential(secrets.token_bytes(32), private_key, rp_id)
        self.credentials.append(credential)
        attested = AttestedCredentialData.create(
            b"\0" * 16,
            credential.credential_id,
            ES256.from_cryptography_key(private_key.public_key()),
        )
        flags = _FLAGS.UP | _FLAGS.AT | (_FLAGS.UV if self.user_verified else 0)
        auth_data = AuthenticatorData.create(
            hashlib.sha256(rp_id.encode()).digest(), flags, 0, attested
        )
        client_data = CollectedClientData.create(
            CollectedClientData.TYPE.CREATE, options["challenge"], self.origin
        )
        return {
            "id": websafe_encode(credential.credential_id),
            "rawId": websafe_encode(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "attestationObject": websafe_encode(
                    AttestationObject.create("none", auth_data, {})
                ),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
            "authenticatorAttachment": "platform",
        }

    def get(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """navigator.credentials.get(): an assertion for `options` (the JSON request options)
        by the first of our credentials it allows, as AuthenticationResponseJSON. `origin` and
        `rp_id` override what the client names and the RP ID hash it signs (a broken or
        hostile client)."""
        allowed = {d["id"] for d in options.get("allowCredentials", [])}
        signed_rp_id = rp_id
        rp_id = options["rpId"]
        matches = [
            c
            for c in self.credentials
            if c.rp_id == rp_id and (not allowed or websafe_encode(c.credential_id) in allowed)
        ]
        if not matches:
            raise LookupError("no credential for this RP ID among the allowed ones")
        credential = matches[0]
        if self.counts:
            credential.sign_count += 1
        flags = _FLAGS.UP | (_FLAGS.UV if self.user_verified else 0)
        auth_data = AuthenticatorData.create(
            hashlib.sha256((signed_rp_id or rp_id).encode()).digest(), flags, credential.sign_count
        )
        client_data = CollectedClientData.create(
            CollectedClientData.TYPE.GET, options["challenge"], origin or self.origin
        )
        signature = credential.private_key.sign(
            bytes(auth_data) + client_data.hash, ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": websafe_encode(credential.credential_id),
            "rawId": websafe_encode(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(auth_data),
                "signature": websafe_encode(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }


def challenge_bytes(options: dict[str, Any]) -> bytes:
    return websafe_decode(options["challenge"])


SITE_ORIGIN = "https://cards.example.com"
SITE_RP_ID = "cards.example.com"


def passkey_settings(settings: Any, *origins: str) -> None:
    """Point passkeys at the test site (RP ID cards.example.com, these origins)."""
    settings.OTP_WEBAUTHN_RP_ID = SITE_RP_ID
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = list(origins or [SITE_ORIGIN])
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, SITE_RP_ID]


def enrol_directly(user: Any, authenticator: SoftAuthenticator, name: str = "Phone") -> Any:
    """Register a credential of `authenticator` for `user` with django-otp-webauthn's helper (the
    one the settings name), as a passkey made on the phone earlier would have been."""
    from django_otp_webauthn.models import WebAuthnCredential

    helper = WebAuthnCredential.get_webauthn_helper(request=None)
    options, state = helper.register_begin(user=user)
    device = helper.register_complete(user=user, state=state, data=authenticator.create(options))
    device.name = name
    device.save()
    return device
