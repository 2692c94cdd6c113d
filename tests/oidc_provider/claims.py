"""The test provider's claims: `sub` is the customer number; scope `customer` adds it again as
`customer_number`, for the tests of a configured claim."""

from __future__ import annotations

from typing import Any

from oidc_provider.lib.claims import ScopeClaims


def customer_number(user: Any) -> str:
    return str(user.username)


def userinfo(claims: dict[str, Any], user: Any) -> dict[str, Any]:
    claims["email"] = user.email
    claims["name"] = user.get_full_name()
    return claims


class CustomerNumberScope(ScopeClaims):
    info_customer = ("Customer number", "Your customer number at the bank.")

    def scope_customer(self) -> dict[str, Any]:
        # The test users' first name holds a second id, to tell the claim apart from `sub`.
        return {"customer_number": self.user.first_name}
