"""The admin site: OTP-verified staff only, signed in with password and code on one form, and the
global reveal switch named by its state at the top of the Cards section."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from cardreveal.accounts.forms import AdminSignInForm
from cardreveal.accounts.views import sign_in_limited_status
from cardreveal.cards.models import RevealSwitch


class CardrevealAdminSite(OTPAdminSite):
    """django-otp's admin site (every page needs a staff user verified with a code, T-MFA-1),
    with a one-step sign-in: username, password and a TOTP or backup code on one form
    (`AdminSignInForm`), counted towards the per-user lockout and the sign-in limits like the
    cardholder's."""

    site_header = "cardreveal administration"
    site_title = "cardreveal admin"
    login_form = AdminSignInForm
    login_template = "admin/sign_in.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Django's admin sign-in; 429 with Retry-After when the sign-in limits refused it."""
        response: HttpResponse = super().login(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data:
            return sign_in_limited_status(response, response.context_data.get("form"))
        return response

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        """Django's list, with the global reveal switch first in its app and named by its state
        ("Reveals for everyone: on" or "paused"), linking straight to the one switch."""
        app_list: list[dict[str, Any]] = super().get_app_list(request, app_label)
        for app in app_list:
            models = app["models"]
            switch = [entry for entry in models if entry["model"] is RevealSwitch]
            if not switch:
                continue
            entry = switch[0]
            models.remove(entry)
            models.insert(0, entry)
            current = RevealSwitch.objects.filter(pk=RevealSwitch.SINGLETON_ID).first()
            entry["name"] = RevealSwitch.state_name(current)
            if current is not None and entry.get("admin_url"):
                entry["admin_url"] = reverse(
                    f"{self.name}:cards_revealswitch_change", args=[current.pk]
                )
        return app_list
