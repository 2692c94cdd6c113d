"""Passkey pages: add, name and remove passkeys; sign in with one (second factor, or passwordless)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from cardreveal.accounts.cooloff import reveal_cooloff
from cardreveal.accounts.decorators import signed_in_user, verified_required
from cardreveal.accounts.lockout import account_locked_until, lock_message, utc_clock
from cardreveal.accounts.models import PasskeyChallenge
from cardreveal.accounts.passkeys import (
    ADMIN_SIGN_IN_BINDING,
    MAX_NAME_LENGTH,
    PasskeyEnrolError,
    android_asset_links,
    apple_app_site_association,
    binding_digest,
    has_passkey,
    passkey_register_begin,
    passkey_register_complete,
    passkey_remove,
    passkey_rename,
    passkey_request_options,
    passkeys_for_user,
    verify_passkey,
)
from cardreveal.accounts.sign_in import sign_in_finish
from cardreveal.accounts.sign_in_limits import open_challenge_refusal
from cardreveal.client_info import client_info

# What a sign-in assertion is bound to: the user it is for (second factor), or nobody yet.
_PASSWORDLESS = binding_digest("sign_in", "passwordless")


def sign_in_binding(user_pk: object) -> bytes:
    return binding_digest("sign_in", str(user_pk))


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object the page sent, or {} for anything else (each view then says what is
    missing). A body nested too deep for the parser is nothing we sent either."""
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _error(message: str, status: int = 400, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"message": message, **extra}}, status=status)


def _open_challenge_refused(request: HttpRequest) -> JsonResponse | None:
    """429 with Retry-After once this address made too many challenges for nobody yet."""
    refusal = open_challenge_refusal(address=client_info(request, channel="web").ip)
    if refusal is None:
        return None
    response = _error(refusal.message, 429, code="throttled")
    response["Retry-After"] = str(refusal.retry_after)
    return response


def _safe_next(request: HttpRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("cards:list")


# ---------------------------------------------------------------------------------- managing


@never_cache
@require_GET
@verified_required
def passkeys(request: HttpRequest) -> HttpResponse:
    """The cardholder's passkeys: add one (named), rename or remove each."""
    return render(
        request,
        "accounts/passkeys.html",
        {
            "passkeys": passkeys_for_user(user=signed_in_user(request)),
            "max_name_length": MAX_NAME_LENGTH,
        },
    )


@never_cache
@require_POST
@verified_required
def register_options(request: HttpRequest) -> JsonResponse:
    """Creation options for a new passkey (JSON), for navigator.credentials.create()."""
    return JsonResponse(
        {"creation_options": passkey_register_begin(user=signed_in_user(request), request=request)}
    )


@never_cache
@require_POST
@verified_required
def register(request: HttpRequest) -> JsonResponse:
    """POST {"name": ..., "credential": <RegistrationResponseJSON>}: add the passkey."""
    data = _json_body(request)
    credential = data.get("credential")
    if not isinstance(credential, dict):
        return _error("The passkey answer was missing. Press Add a passkey again.")
    try:
        device = passkey_register_complete(
            user=signed_in_user(request),
            credential=credential,
            name=str(data.get("name") or ""),
            request=request,
        )
    except PasskeyEnrolError as exc:
        return _error(str(exc))
    cooloff = reveal_cooloff(user=signed_in_user(request))
    held = (
        f" For your security, security codes cannot be shown until {utc_clock(cooloff.until)}."
        if cooloff is not None
        else ""
    )
    messages.success(request, f'Passkey "{device.name}" added.{held} We have emailed you about it.')
    return JsonResponse({"redirect": reverse("accounts:passkeys")})


@never_cache
@require_POST
@verified_required
def rename(request: HttpRequest, device_id: int) -> HttpResponse:
    if passkey_rename(
        user=signed_in_user(request), device_id=device_id, name=request.POST.get("name", "")
    ):
        messages.success(request, "Passkey renamed.")
    else:
        messages.error(request, "Give the passkey a name (it was not changed).")
    return redirect("accounts:passkeys")


@never_cache
@require_POST
@verified_required
def remove(request: HttpRequest, device_id: int) -> HttpResponse:
    name = passkey_remove(user=signed_in_user(request), device_id=device_id)
    if name is None:
        messages.error(request, "That passkey was already removed.")
    else:
        messages.success(request, f'Passkey "{name}" removed. We have emailed you about it.')
    return redirect("accounts:passkeys")


# ---------------------------------------------------------------------------------- sign-in


@never_cache
@require_POST
@login_required
def sign_in_options(request: HttpRequest) -> JsonResponse:
    """After the password: request options for the user's passkeys (the second factor)."""
    user = signed_in_user(request)
    if not has_passkey(user=user):
        return _error("You have no passkey yet: enter the code from your authenticator app.")
    locked_until = account_locked_until(user=user)
    if locked_until is not None:
        return _error(lock_message(locked_until), 423)
    options = passkey_request_options(
        user=user,
        purpose=PasskeyChallenge.Purpose.SIGN_IN,
        binding=sign_in_binding(user.pk),
        request=request,
    )
    return JsonResponse({"request_options": options})


@never_cache
@sensitive_post_parameters()
@require_POST
@login_required
def sign_in(request: HttpRequest) -> JsonResponse:
    """POST {"credential": <AuthenticationResponseJSON>, "next": ...}: finish signing in."""
    data = _json_body(request)
    user = signed_in_user(request)
    client = client_info(request, channel="web")
    _, check = verify_passkey(
        user=user,
        assertion=data.get("credential") or None,
        purpose=PasskeyChallenge.Purpose.SIGN_IN,
        binding=sign_in_binding(user.pk),
        context="sign_in",
        client=client,
        request=request,
    )
    if check.locked_until is not None:
        logout(request)
        messages.error(request, lock_message(check.locked_until))
        return JsonResponse({"redirect": reverse("accounts:login")}, status=423)
    if not check.ok:
        return _error(check.message, 403, code=str(check.failure))
    sign_in_finish(request=request, user=user, device=check.device, client=client)
    return JsonResponse({"redirect": _safe_next(request, str(data.get("next") or ""))})


@never_cache
@require_POST
def passwordless_options(request: HttpRequest) -> JsonResponse:
    """Request options for signing in with a passkey alone, when the bank turned that on."""
    if not settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN:
        return _error("Signing in with a passkey alone is not turned on.", 404)
    refused = _open_challenge_refused(request)
    if refused is not None:
        return refused
    options = passkey_request_options(
        user=None, purpose=PasskeyChallenge.Purpose.SIGN_IN, binding=_PASSWORDLESS, request=request
    )
    return JsonResponse({"request_options": options})


@never_cache
@require_POST
def passwordless(request: HttpRequest) -> JsonResponse:
    """POST {"credential": ..., "next": ...}: sign in with the passkey alone; it names its owner,
    is checked like a second factor (lock, counters, audit) and verifies the session."""
    if not settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN:
        return _error("Signing in with a passkey alone is not turned on.", 404)
    data = _json_body(request)
    client = client_info(request, channel="web")
    user, check = verify_passkey(
        user=None,
        assertion=data.get("credential") or None,
        purpose=PasskeyChallenge.Purpose.SIGN_IN,
        binding=_PASSWORDLESS,
        context="sign_in",
        client=client,
        request=request,
    )
    if user is None or not check.ok or not user.is_active:
        if check.locked_until is not None:
            return _error(lock_message(check.locked_until), 423)
        return _error(check.message if check.failure else "That passkey cannot sign in.", 403)
    # django-otp marks the session verified by the device set here when Django logs the user
    # in; the audit records one "Signed in" for it (as for the admin's one-step sign-in).
    user.otp_device = check.device  # type: ignore[attr-defined]
    login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
    return JsonResponse({"redirect": _safe_next(request, str(data.get("next") or ""))})


@never_cache
@require_POST
def admin_options(request: HttpRequest) -> JsonResponse:
    """Request options for the admin's one-step sign-in: any passkey (the password and the
    passkey are then checked together by the admin's sign-in form)."""
    refused = _open_challenge_refused(request)
    if refused is not None:
        return refused
    options = passkey_request_options(
        user=None,
        purpose=PasskeyChallenge.Purpose.SIGN_IN,
        binding=ADMIN_SIGN_IN_BINDING,
        request=request,
    )
    return JsonResponse({"request_options": options})


# ---------------------------------------------------------------------------------- apps


@require_GET
@cache_control(max_age=3600, public=True)
def assetlinks(request: HttpRequest) -> JsonResponse:
    """/.well-known/assetlinks.json: the Android apps that may use this site's passkeys."""
    return JsonResponse(android_asset_links(), safe=False)


@require_GET
@cache_control(max_age=3600, public=True)
def apple_association(request: HttpRequest) -> JsonResponse:
    """/.well-known/apple-app-site-association: the iOS apps that may use this site's passkeys."""
    return JsonResponse(apple_app_site_association())
