"""manage.py provisioning_client: create, rotate, revoke and list the bank's provisioning clients."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cardreveal.errors import ServiceError
from cardreveal.provisioning.clients import (
    IssuedCredentials,
    provisioning_client_create,
    provisioning_client_revoke,
    provisioning_client_rotate,
)
from cardreveal.provisioning.models import SCOPES, ProvisioningClient


class Command(BaseCommand):
    help = (
        "Provisioning clients (OAuth2 client credentials for the bank's systems). `create NAME "
        "--scope S ...` prints a new client id and secret (shown once); `rotate CLIENT_ID` makes "
        "a second client like it (both work until you revoke the old one); `revoke CLIENT_ID` "
        "stops a client and its tokens at once; `list` shows them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new client; prints its id and secret once")
        create.add_argument("name", help="what the client is, e.g. 'Core banking sync'")
        create.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=list(SCOPES),
            help="a scope it may use (repeat for more)",
        )
        create.add_argument("--requests-per-minute", type=int, default=120)
        rotate = sub.add_parser("rotate", help="a new secret (as a second client) for a client")
        rotate.add_argument("client_id")
        revoke = sub.add_parser("revoke", help="stop a client and its tokens")
        revoke.add_argument("client_id")
        sub.add_parser("list", help="every provisioning client")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                if options["requests_per_minute"] < 1:
                    raise CommandError("--requests-per-minute must be at least 1.")
                self._print(
                    provisioning_client_create(
                        name=options["name"],
                        scopes=options["scope"],
                        requests_per_minute=options["requests_per_minute"],
                    )
                )
            elif action == "rotate":
                self._print(provisioning_client_rotate(client_id=options["client_id"]))
                self.stdout.write(
                    "Move the bank's system to the new secret, then: "
                    f"manage.py provisioning_client revoke {options['client_id']}"
                )
            elif action == "revoke":
                provisioning_client_revoke(client_id=options["client_id"])
                self.stdout.write(f"Revoked {options['client_id']}; its tokens no longer work.")
            else:
                for client in ProvisioningClient.objects.select_related("application"):
                    self.stdout.write(
                        f"{client.application.client_id}\t{client.application.name}\t"
                        f"{client.scopes}\t{client.requests_per_minute}/min"
                    )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc

    def _print(self, issued: IssuedCredentials) -> None:
        self.stdout.write(f"client_id: {issued.client_id}")
        self.stdout.write(f"client_secret: {issued.client_secret}")
        self.stdout.write("The secret is shown only now (only its hash is kept): store it safely.")
