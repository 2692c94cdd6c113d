"""Plain-language texts for audit reason codes, as the cardholder's activity page shows them."""

from __future__ import annotations

REASON_TEXTS: dict[str, str] = {
    # reveals
    "ok": "Shown",
    "card_not_found": "Card not found",
    "card_disabled": "Turned off for this card",
    "binding_disabled": "Unavailable for this card's bank connection",
    "reveals_paused": "Paused for everyone by the bank",
    "client_key_invalid": "The browser or app sent an unusable key",
    "reveal_cooloff": "Held back after a recent password or authenticator change",
    "quota_exceeded": "Too many requests",
    "internal_error": "A fault on our side",
    "quotas_unavailable": "Paused for a moment: part of our system was unavailable",
    "limits_unavailable": "Paused for a moment: part of our system was unavailable",
    "temporarily_unavailable": "Part of our system was unavailable for a moment",
    # codes and sign-in
    "otp_missing": "No code entered",
    "otp_malformed": "The code was not 6 digits",
    "otp_invalid": "Wrong code",
    "otp_replayed": "A code that had already been used",
    "otp_throttled": "Too many wrong attempts in a row: not checked, asked to wait",
    "otp_no_device": "No authenticator set up",
    "account_locked": "Account locked",
    # passkeys (cardreveal/accounts/passkeys.py)
    "passkey_missing": "No passkey answer sent",
    "passkey_malformed": "The passkey answer could not be read",
    "passkey_unknown_challenge": "A passkey answer to a request we did not make",
    "passkey_replayed": "A passkey answer that had already been used",
    "passkey_expired": "A passkey answer that came too late",
    "passkey_wrong_binding": "A passkey answer made for another card or device",
    "passkey_wrong_origin": "A passkey used on another website (possibly a fake site)",
    "passkey_unknown": "A passkey not registered to this account",
    "passkey_no_user_verification": "The passkey did not check it was you",
    "passkey_counter": "A passkey that may have been copied",
    "passkey_invalid": "A passkey answer that could not be verified",
    "passkey_no_device": "No passkey set up",
    "passkey_required": "A code was sent where a passkey is required",
    "passkey_not_allowed": "A passkey was used where only codes are allowed",
    "bad_credentials": "Wrong password",
    "unknown_user": "Unknown user name",
    "too_many_password_failures": "Too many wrong passwords",
    "too_many_otp_failures": "Too many wrong codes",
    "too_many_failures": "Too many failed attempts",
    "lifted_by_admin": "Lifted by the bank",
    "lifted": "Lifted",
    "receipt_link": "Reported with the link in a receipt",
    # what a "This wasn't me" report did, and the card lock at the bank after it
    "reveals_stopped": "Showing the security code turned off, signed out everywhere. The card "
    "itself still works for payments: call your bank to block it",
    "reveals_stopped_lock_asked": "Showing the security code turned off, signed out everywhere; "
    "your bank was asked to lock the card",
    "reveals_stopped_locked_before": "Showing the security code turned off, signed out "
    "everywhere; the card was already locked at your bank",
    "locked": "Locked: the card is refused for payments until your bank lifts the lock",
    "lock_failed": "Did not go through: call your bank to block the card",
    "link_invalid": "The link was not valid",
    "link_expired": "The link had expired",
    "link_used": "The link had already been used",
    "link_revoked": "The link had been withdrawn",
    "resent": "A new link replaced the earlier one",
    "unknown_external_id": "Your bank's sign-in is not linked to an account here",
    "no_external_id": "Your bank's sign-in sent no customer id",
    "account_inactive": "The account is turned off",
    "bank_sign_in_error": "Your bank's sign-in did not complete",
    # the provider
    "card_details_mismatch": "The bank did not recognise the card details",
    "cvv_blocked": "Blocked at the bank",
    "provider_error": "The bank's system had a problem",
    "provider_unavailable": "The bank's system was unavailable",
    "provider_timeout": "The bank's system was too slow",
    "provider_tls_error": "The bank's system was unavailable",
    "provider_circuit_open": "The bank's system was unavailable",
    "provider_bad_response": "The bank's system had a problem",
    "provider_connection_lost": "The connection to the bank's system was lost",
    "provider_busy": "The bank's system was busy",
    "provider_auth_error": "The bank's system had a problem",
    "provider_rate_limited": "The bank's system was busy",
    "provider_server_error": "The bank's system had a problem",
    "provider_config_error": "Unavailable for this card's bank connection",
}


def reason_text(code: str) -> str:
    """The plain text for `code`; an unknown code reads as a generic refusal, never as the raw code
    alone (the code follows in brackets, for support calls)."""
    text = REASON_TEXTS.get(code)
    if text is not None:
        return text
    if code.startswith("quota"):
        return "Too many requests"
    return f"Not shown ({code})" if code else ""
