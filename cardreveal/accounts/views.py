"""Sign-in, sign-out, the sign-in code step, first-time authenticator enrolment, password change,
invitations and password reset."""

from __future__ import annotations

import logging
from base64 import b32encode
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import (
    get_default_password_validators,
    password_validators_help_text_html,
)
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView
from requests import RequestException

from cardreveal.accounts.cooloff import (
    PasswordChangeCooloff,
    password_change_record,
    reveal_cooloff,
)
from cardreveal.accounts.decorators import signed_in_user, verified_required
from cardreveal.accounts.forms import (
    CodeForm,
    LimitedSignInForm,
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
)
from cardreveal.accounts.invitations import (
    InvitationRefusal,
    invitation_accept,
    invitation_for_link,
)
from cardreveal.accounts.lockout import (
    account_locked_until,
    lock_message,
    seconds_until,
    utc_clock,
)
from cardreveal.accounts.models import AccountSecurity
from cardreveal.accounts.oidc import REFUSALS, SESSION_REFUSAL, oidc_enabled
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
from cardreveal.accounts.password_reset import password_reset_throttle, reset_link_minutes
from cardreveal.accounts.sign_in import sign_in_finish
from cardreveal.accounts.sign_in_limits import sign_in_refusal
from cardreveal.accounts.signals import external_sign_in_refused, password_reset_completed
from cardreveal.bank_contact import bank_contact
from cardreveal.client_info import client_info

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    """Username and password; the code step follows. Past the sign-in limits, 429 and when to
    try again; a locked account is answered as a wrong password (the lock is told by email).
    Where the bank's identity provider signs cardholders in, the page offers that instead."""

    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["oidc"] = oidc_enabled()
        context["provider_name"] = provider_name()
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


# ------------------------------------------------------------------------------ invitations

_PASSWORD_BACKEND = "cardreveal.accounts.backends.LockoutModelBackend"  # noqa: S105 - a dotted path


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest) -> HttpResponse:
    """An invitation's link (`?token=...`): choose a password, then on to setting up the
    authenticator. The form posts back to the same address, token included."""
    token = request.GET.get("token", "")
    found = invitation_for_link(token=token)
    if isinstance(found, InvitationRefusal):
        return _invitation_refused(request, found)
    user = found.user
    if oidc_enabled():
        return _invitation_to_bank_sign_in(request, token, user)
    form = SetPasswordForm(user, request.POST or None)
    # The rules the password must meet, without the cool-off's note: a first password starts none.
    form.fields["new_password1"].help_text = password_validators_help_text_html(
        [
            validator
            for validator in get_default_password_validators()
            if not isinstance(validator, PasswordChangeCooloff)
        ]
    )
    if request.method == "POST" and form.is_valid():
        accepted = invitation_accept(
            token=token,
            password=form.cleaned_data["new_password1"],
            client=client_info(request, channel="web"),
        )
        if isinstance(accepted, InvitationRefusal):
            return _invitation_refused(request, accepted)
        locked_until = account_locked_until(user=user)
        if locked_until is not None:
            messages.error(request, lock_message(locked_until))
            return redirect("accounts:login")
        login(request, accepted.user, backend=_PASSWORD_BACKEND)
        messages.success(request, "Your password is set. Now set up your authenticator app.")
        return redirect("accounts:enrol")
    return render(
        request,
        "accounts/invitation.html",
        {"form": form, "username": user.get_username(), "bank": bank_contact()},
    )


def _invitation_to_bank_sign_in(request: HttpRequest, token: str, user: Any) -> HttpResponse:
    """Where the bank's identity provider signs cardholders in, the link leads there (there is
    no password of ours to choose), and from there to setting up the authenticator."""
    if request.method == "POST":
        accepted = invitation_accept(
            token=token, password=None, client=client_info(request, channel="web")
        )
        if isinstance(accepted, InvitationRefusal):
            return _invitation_refused(request, accepted)
        return redirect(f"{reverse('accounts:oidc_start')}?next={reverse('accounts:enrol')}")
    return render(
        request,
        "accounts/invitation_bank.html",
        {"provider_name": provider_name(), "bank": bank_contact()},
    )


def _invitation_refused(request: HttpRequest, refusal: InvitationRefusal) -> HttpResponse:
    status = 404 if refusal.reason == "link_invalid" else 410
    return render(
        request,
        "accounts/invitation_refused.html",
        {"refusal": refusal, "bank": bank_contact()},
        status=status,
    )


# ------------------------------------------------------------------------------ bank sign-in


class OidcStartView(OIDCAuthenticationRequestView):
    """Off to the bank's identity provider (mozilla-django-oidc's view); 404 where it is off."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not oidc_enabled():
            raise Http404("Sign-in with the bank is not set up here.")
        response: HttpResponseBase = super().dispatch(request, *args, **kwargs)
        return response


class OidcCallbackView(OIDCAuthenticationCallbackView):
    """Back from the bank's identity provider (mozilla-django-oidc's view): signed in at the
    password step, on to our code step; or the refusal page."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not oidc_enabled():
            raise Http404("Sign-in with the bank is not set up here.")
        try:
            response: HttpResponseBase = super().dispatch(request, *args, **kwargs)
        except (RequestException, SuspiciousOperation) as error:
            # The provider failed or answered with something that does not check out.
            logger.warning("bank sign-in failed: %s", type(error).__name__)
            request.session[SESSION_REFUSAL] = "bank_sign_in_error"
            external_sign_in_refused.send(
                sender=AccountSecurity,
                external_id="",
                reason="bank_sign_in_error",
                client=client_info(request, channel="web"),
            )
            return redirect("accounts:oidc_refused")
        return response


@never_cache
@require_http_methods(["GET"])
def oidc_refused(request: HttpRequest) -> HttpResponse:
    """Why signing in with the bank did not let the person in, and whom to contact."""
    reason = request.session.pop(SESSION_REFUSAL, "bank_sign_in_error")
    bank = bank_contact()
    message = REFUSALS.get(reason, REFUSALS["bank_sign_in_error"]).format(
        bank=f"{bank.name} on {bank.phone}"
    )
    return render(
        request,
        "accounts/oidc_refused.html",
        {"message": message, "bank": bank, "provider_name": provider_name()},
        status=403,
    )


def provider_name() -> str:
    return str(settings.CARDREVEAL_OIDC_PROVIDER_NAME or bank_contact().name)


# ------------------------------------------------------------------------------ password reset


@method_decorator(never_cache, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link by email: the same answer whether or not the address has an account;
    limited per email address and per client address each hour."""

    template_name = "accounts/password_reset_form.html"
    email_template_name = "emails/password_reset.txt"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")
    form_class = PasswordResetForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if oidc_enabled():
            return _password_managed_by_bank(request)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["client"] = client_info(self.request, channel="web")
        return kwargs

    def form_valid(self, form: Any) -> HttpResponse:
        retry_at = password_reset_throttle(
            email=form.cleaned_data["email"], client=client_info(self.request, channel="web")
        )
        if retry_at is not None:
            form.add_error(
                None,
                "Too many reset requests for this email address or from your connection. "
                f"Try again after {utc_clock(retry_at)}. If you cannot wait, contact "
                f"{bank_contact().name} on {bank_contact().phone}.",
            )
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(max(1, seconds_until(retry_at)))
            return response
        self.extra_email_context = {
            "site_url": _site_url(self.request),
            "minutes": reset_link_minutes(),
        }
        return super().form_valid(form)


@method_decorator(never_cache, name="dispatch")
class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["minutes"] = reset_link_minutes()
        return context


@method_decorator(never_cache, name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The emailed link: choose a new password. The change starts the reveal cool-off and is
    emailed (`PasswordChangeCooloff`), and is audited as a reset."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if oidc_enabled():
            return _password_managed_by_bank(request)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["bank"] = bank_contact()
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        if form.user.last_login is None:
            # PasswordChangeCooloff leaves an account's first password alone; a reset is never that.
            password_change_record(user=form.user)
        password_reset_completed.send(
            sender=AccountSecurity, user=form.user, client=client_info(self.request, channel="web")
        )
        return response


@method_decorator(never_cache, name="dispatch")
class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["cooloff_minutes"] = settings.CARDREVEAL_REVEAL_COOLOFF_SECONDS // 60
        return context


def _password_managed_by_bank(request: HttpRequest) -> HttpResponse:
    context = {"provider_name": provider_name(), "bank": bank_contact()}
    return render(request, "accounts/password_managed_by_bank.html", context)


def _site_url(request: HttpRequest) -> str:
    base = str(getattr(settings, "CARDREVEAL_SITE_URL", "") or "").rstrip("/")
    return base or request.build_absolute_uri("/").rstrip("/")
