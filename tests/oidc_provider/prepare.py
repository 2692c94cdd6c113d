"""Prepare the test provider's database: tables, a signing key, one client and its users.

Run as `python -m tests.oidc_provider.prepare CLIENT_ID CLIENT_SECRET REDIRECT_URI... --
USER:PASSWORD:SECOND_ID...` with OP_DATABASE set.
"""

from __future__ import annotations

import os
import sys

import django


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")
    django.setup()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from oidc_provider.models import Client, ResponseType, RSAKey

    split = argv.index("--")
    client_id, client_secret, *redirect_uris = argv[:split]
    users = argv[split + 1 :]
    call_command("migrate", verbosity=0, interactive=False)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    RSAKey.objects.create(key=pem)
    client = Client.objects.create(
        name="cardreveal",
        client_type="confidential",
        client_id=client_id,
        client_secret=client_secret,
        jwt_alg="RS256",
        require_consent=False,
        reuse_consent=True,
    )
    client.redirect_uris = redirect_uris
    client.scope = ["openid", "email", "profile", "customer"]
    client.save()
    client.response_types.add(ResponseType.objects.get(value="code"))
    for spec in users:
        username, password, second_id = spec.split(":")
        get_user_model().objects.create_user(
            username=username, password=password, first_name=second_id
        )


if __name__ == "__main__":
    main(sys.argv[1:])
