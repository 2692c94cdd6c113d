"""Sign-in, sign-out, the sign-in code step, first-time authenticator enrolment, password change."""

from __future__ import annotations

from base64 import b32encode
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from cardreveal.accounts.cooloff import reveal_cooloff
from cardreveal.accounts.decorators import signed_in_user, verified_required
from cardreveal.accounts.forms import CodeForm, LimitedSignInForm, LoginForm, PasswordChangeForm
from cardreveal.accounts.lockout import account_locked_until, lock_message
from cardreveal.accounts.otp import (
    OtpCheck,
    OtpFailure,
    confirm_totp_device,
    has_confirmed_authenticator,
    pending_totp_device,
    throttle_message,
    verify_sign_in_code,
)
from cardreveal.accounts.passkeys import has_passkey
from cardreveal.accounts.sign_in import sign_in_finish
from cardreveal.accounts.sign_in_limits import sign_in_refusal
from cardreveal.client_info import client_info


class LoginView(auth_views.LoginView):
    """Username and password; the code step follows. Past the sign-in limits, 429 and when to
    try again; a locked account is answered as a wrong password (the lock is told by email)."""

    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # "Sign in with a passkey" (no password), when the bank turned it on.
        context["passwordless"] = settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN
        return context

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        return sign_in_limited_status(super().form_invalid(form), form)


def sign_in_limited_status(response: HttpResponse, form: object) -> HttpResponse:
    """`response` (a sign-in page) as 429 with Retry-After when the sign-in limits refused
    `form`'s attempt; unchanged otherwise. For the cardholder's and the admin's sign-in."""
    refusal = form.refusal if isinstance(form, LimitedSignInForm) else None
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(refusal.retry_after)
    return response


class LogoutView(auth_views.LogoutView):
    """Signs out (POST only) and asks the browser to drop everything it kept for us."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache", "cookies", "storage"'
        return response


def _safe_next(request: HttpRequest, fallback: str = "cards:list") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    from django.urls import reverse

    return reverse(fallback)


@never_cache
@sensitive_post_parameters("code")
@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """Ask for a code from the authenticator (or a backup code) to finish signing in; past the
    sign-in limits, 429 with when to try again and the code left unchecked."""
    if not has_confirmed_authenticator(signed_in_user(request)):
        return redirect("accounts:enrol")
    if request.user.is_verified():  # type: ignore[union-attr]  # added by OTPMiddleware
        return redirect(_safe_next(request))
    locked_until = account_locked_until(user=signed_in_user(request))
    form = CodeForm(request.POST or None)
    refusal = None
    if locked_until is None and request.method == "POST" and form.is_valid():
        refusal = sign_in_refusal(
            address=client_info(request, channel="web").ip,
            username=signed_in_user(request).get_username(),
        )
    if refusal is not None:
        form.add_error("code", refusal.message)  # the code is not checked, so not spent
    elif locked_until is None and request.method == "POST" and form.is_valid():
        check = verify_sign_in_code(
            user=signed_in_user(request),
            code=form.cleaned_data["code"],
            client=client_info(request, channel="web"),
        )
        if check.ok:
            sign_in_finish(
                request=request,
                user=signed_in_user(request),
                device=check.device,
                client=client_info(request, channel="web"),
            )
            return redirect(_safe_next(request))
        locked_until = check.locked_until
        form.add_error("code", _sign_in_refusal(check))
    if locked_until is not None:
        # A locked account cannot finish signing in: end the half-signed-in session and say why.
        logout(request)
        messages.error(request, lock_message(locked_until))
        return redirect("accounts:login")
    response = render(
        request,
        "accounts/otp_verify.html",
        {
            "form": form,
            "next": request.GET.get("next", ""),
            "passkey": has_passkey(user=signed_in_user(request)),
        },
    )
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(refusal.retry_after)
    return response


def _sign_in_refusal(check: OtpCheck) -> str:
    """Why the sign-in code was refused, in the words the activity page uses for it."""
    if check.failure is OtpFailure.THROTTLED and check.wait_until is not None:
        return throttle_message(check.wait_until)
    if check.failure is OtpFailure.REPLAYED:
        return "That code has already been used. Wait for your authenticator to show a new code."
    return (
        "That code is not correct. Enter the code your authenticator app shows now, "
        "or one of your backup codes."
    )


@never_cache
@sensitive_post_parameters("code")
@login_required
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """First-time setup: scan the QR code (or type the key), confirm with a code, get backup codes."""
    if has_confirmed_authenticator(signed_in_user(request)):
        messages.info(request, "Your authenticator is already set up.")
        return redirect("cards:list")
    device = pending_totp_device(user=signed_in_user(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed, backup_codes = confirm_totp_device(
            user=signed_in_user(request), code=form.cleaned_data["code"]
        )
        if confirmed is not None:
            sign_in_finish(
                request=request,
                user=signed_in_user(request),
                device=confirmed,
                client=client_info(request, channel="web"),
            )
            # Shown once, in this response only: never stored in the session or messages.
            return render(
                request,
                "accounts/backup_codes.html",
                {"codes": backup_codes, "cooloff": reveal_cooloff(user=signed_in_user(request))},
            )
        form.add_error(
            "code",
            "That code does not match. Check the key was entered correctly "
            "and that your phone's clock is right, then try a new code.",
        )
    secret = b32encode(device.bin_key).decode("ascii")
    context = {
        "form": form,
        "qr_data_uri": segno.make(device.config_url, error="m").svg_data_uri(scale=5),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        "otpauth_uri": device.config_url,
    }
    return render(request, "accounts/enrol.html", context)


@method_decorator(never_cache, name="dispatch")
@method_decorator(verified_required, name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    """Change the password (current one first); pauses reveals for the cool-off and emails."""

    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("accounts:password_change_done")
    form_class = PasswordChangeForm

    def get_form_kwargs(self) -> dict[str, object]:
        kwargs = super().get_form_kwargs()
        kwargs["client"] = client_info(self.request, channel="web")
        return kwargs


@method_decorator(never_cache, name="dispatch")
@method_decorator(verified_required, name="dispatch")
class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    """Confirms the change and says until when security codes stay hidden."""

    template_name = "accounts/password_change_done.html"

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        context["cooloff"] = reveal_cooloff(user=signed_in_user(self.request))
        return context
