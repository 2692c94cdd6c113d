"""Signal receivers that turn account events into audit records (connected in AuditConfig.ready)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_delete, post_init, post_save
from django.http import HttpRequest

from cardreveal.accounts import signals as account_signals
from cardreveal.audit.context import client_for_request, current_scope
from cardreveal.audit.models import AuthEvent
from cardreveal.audit.services import auth_event_record
from cardreveal.client_info import ClientInfo

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

Event = AuthEvent.Event
Outcome = AuthEvent.Outcome

_ADMIN_ACTIONS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def _client(request: HttpRequest | None = None, client: ClientInfo | None = None) -> ClientInfo:
    return client if client is not None else client_for_request(request)


# ------------------------------------------------------------------------------ Django auth


def on_logged_in(sender: object, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """The password was accepted. That is a sign-in only when the code came with it (django-otp's
    forms set `user.otp_device` before Django's login, as the admin's sign-in does); otherwise
    the code step follows and `sign_in_verified` records the sign-in."""
    verified = getattr(user, "otp_device", None) is not None
    auth_event_record(
        event=Event.LOGIN if verified else Event.PASSWORD_ACCEPTED,
        outcome=Outcome.SUCCESS,
        user=user,
        client=_client(request),
    )


def on_logged_out(
    sender: object, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    if user is None:
        return
    auth_event_record(
        event=Event.LOGOUT, outcome=Outcome.SUCCESS, user=user, client=_client(request)
    )


def on_login_failed(
    sender: object,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    """Wrong password or unknown name. Only the name is read from `credentials` (Django has
    already masked the password; it is never touched here)."""
    if "password" not in credentials:
        return  # not a password attempt: the bank's sign-in reports its own refusals
    model = get_user_model()
    typed = str(credentials.get(model.USERNAME_FIELD) or credentials.get("username") or "")
    user = model._default_manager.filter(**{model.USERNAME_FIELD: typed}).first() if typed else None
    auth_event_record(
        event=Event.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        user=user,
        username=typed,
        reason="bad_credentials" if user is not None else "unknown_user",
        client=_client(request),
    )


# ------------------------------------------------------------------------------ accounts app


def on_sign_in_verified(
    sender: object, user: User, client: ClientInfo | None = None, **kwargs: Any
) -> None:
    """Both sign-in steps passed: the one "Signed in" record of a sign-in."""
    auth_event_record(
        event=Event.LOGIN, outcome=Outcome.SUCCESS, user=user, client=_client(client=client)
    )


def on_otp_failed(
    sender: object,
    user: User,
    reason: str = "otp_invalid",
    context: str = "",
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    auth_event_record(
        event=Event.OTP_FAILED,
        outcome=Outcome.FAILURE,
        user=user,
        reason=str(reason),
        resource=f"step:{context}" if context else "",
        client=_client(client=client),
    )


def on_otp_replay_rejected(
    sender: object, user: User, context: str = "", client: ClientInfo | None = None, **kwargs: Any
) -> None:
    auth_event_record(
        event=Event.OTP_REPLAY_REJECTED,
        outcome=Outcome.FAILURE,
        user=user,
        reason="otp_replayed",
        resource=f"step:{context}" if context else "",
        client=_client(client=client),
    )


def on_account_locked(
    sender: object,
    user: User,
    locked_until: Any = None,
    failures: int | None = None,
    trigger: str = "",
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    """Audit the lock and email the account holder once the lock is committed."""
    from cardreveal.audit.notifications import lockout_notice_send

    resolved = _client(client=client)
    until_text = locked_until.isoformat() if locked_until is not None else ""
    auth_event_record(
        event=Event.ACCOUNT_LOCKED,
        outcome=Outcome.SUCCESS,
        user=user,
        reason=f"too_many_{trigger}_failures" if trigger else "too_many_failures",
        client=resolved,
        resource=f"user:{getattr(user, 'pk', '')}",
        detail=f"failures={failures}; locked_until={until_text}",
    )
    transaction.on_commit(
        lambda: lockout_notice_send(user=user, locked_until=locked_until, client=resolved),
        robust=True,
    )


def on_account_unlocked(
    sender: object,
    user: User,
    by: User | None = None,
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    by_name = str(getattr(by, "get_username", lambda: "")())
    auth_event_record(
        event=Event.ACCOUNT_UNLOCKED,
        outcome=Outcome.SUCCESS,
        user=user,
        reason="lifted_by_admin" if by is not None else "lifted",
        client=_client(client=client),
        resource=f"user:{getattr(user, 'pk', '')}",
        detail=f"by={by_name}" if by_name else "",
    )


def on_password_changed(sender: object, user: User, **kwargs: Any) -> None:
    auth_event_record(
        event=Event.PASSWORD_CHANGED,
        outcome=Outcome.SUCCESS,
        user=user,
        client=_client(),
        resource=f"user:{getattr(user, 'pk', '')}",
    )


# ------------------------------------------------------------------------------ onboarding


def _by(by: User | None) -> str:
    name = str(getattr(by, "get_username", lambda: "")())
    return f"by={name}" if name else "by=system"


def on_invitation_sent(
    sender: object,
    user: User,
    invitation: Any,
    by: User | None = None,
    revoked: int = 0,
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    auth_event_record(
        event=Event.INVITATION_SENT,
        outcome=Outcome.SUCCESS,
        user=user,
        reason="resent" if revoked else "",
        client=_client(client=client),
        resource=f"invitation:{invitation.pk}",
        detail=f"{_by(by)}; expires_at={invitation.expires_at.isoformat()}",
    )


def on_invitation_revoked(
    sender: object,
    user: User,
    by: User | None = None,
    revoked: int = 0,
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    auth_event_record(
        event=Event.INVITATION_REVOKED,
        outcome=Outcome.SUCCESS,
        user=user,
        client=_client(client=client),
        resource=f"user:{getattr(user, 'pk', '')}",
        detail=f"{_by(by)}; revoked={revoked}",
    )


def on_invitation_used(
    sender: object, user: User, invitation: Any, client: ClientInfo | None = None, **kwargs: Any
) -> None:
    auth_event_record(
        event=Event.INVITATION_USED,
        outcome=Outcome.SUCCESS,
        user=user,
        client=_client(client=client),
        resource=f"invitation:{invitation.pk}",
    )


def on_invitation_refused(
    sender: object,
    user: User,
    invitation: Any,
    reason: str = "",
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    auth_event_record(
        event=Event.INVITATION_REFUSED,
        outcome=Outcome.FAILURE,
        user=user,
        reason=reason,
        client=_client(client=client),
        resource=f"invitation:{invitation.pk}",
    )


def on_password_reset_requested(
    sender: object, user: User, client: ClientInfo | None = None, **kwargs: Any
) -> None:
    auth_event_record(
        event=Event.PASSWORD_RESET_REQUESTED,
        outcome=Outcome.SUCCESS,
        user=user,
        client=_client(client=client),
        resource=f"user:{getattr(user, 'pk', '')}",
    )


def on_password_reset_completed(
    sender: object, user: User, client: ClientInfo | None = None, **kwargs: Any
) -> None:
    auth_event_record(
        event=Event.PASSWORD_RESET,
        outcome=Outcome.SUCCESS,
        user=user,
        client=_client(client=client),
        resource=f"user:{getattr(user, 'pk', '')}",
    )


def on_external_sign_in_refused(
    sender: object,
    external_id: str = "",
    reason: str = "",
    client: ClientInfo | None = None,
    **kwargs: Any,
) -> None:
    """The bank's identity provider vouched for someone no active cardholder here is linked to."""
    auth_event_record(
        event=Event.LOGIN_FAILED,
        outcome=Outcome.FAILURE,
        user=kwargs.get("user"),
        reason=reason,
        client=_client(client=client),
        resource=f"external_id:{external_id}" if external_id else "",
        detail="identity provider sign-in",
    )


# ------------------------------------------------------------------------------ OTP devices


def _device_resource(device: Any) -> str:
    return f"device:{device._meta.model_name}/{device.pk}"


def on_device_init(sender: type, instance: Any, **kwargs: Any) -> None:
    # Remember whether the device was confirmed when loaded, to see the moment it becomes so.
    instance._audit_was_confirmed = instance.__dict__.get("confirmed", False)


def on_device_saved(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    """A device that has just become confirmed (enrolled, or added confirmed) was added.
    Saves of code counters and throttling (every verification) are not events."""
    confirmed = bool(instance.__dict__.get("confirmed", False))
    was = getattr(instance, "_audit_was_confirmed", False)
    instance._audit_was_confirmed = confirmed
    if not confirmed or (was and not created):
        return
    auth_event_record(
        event=Event.DEVICE_ADDED,
        outcome=Outcome.SUCCESS,
        user=instance.user,
        client=_client(),
        resource=_device_resource(instance),
        detail=f"name={instance.name}",
    )


def on_device_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    if not instance.__dict__.get("confirmed", False):
        return  # an enrolment that was never finished
    user_model = get_user_model()
    user = user_model._default_manager.filter(pk=instance.user_id).first()
    auth_event_record(
        event=Event.DEVICE_REMOVED,
        outcome=Outcome.SUCCESS,
        user=user,
        client=_client(),
        resource=_device_resource(instance),
        detail=f"name={instance.name}",
    )


# ------------------------------------------------------------------------------ admin


def on_admin_log_entry(sender: type, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Every admin add, change and single deletion; the middleware covers what has no LogEntry."""
    if not created:
        return
    scope = current_scope()
    if scope is not None:
        scope.admin_change_recorded = True
    content_type = instance.content_type
    model = f"{content_type.app_label}.{content_type.model}" if content_type else "?"
    auth_event_record(
        event=Event.ADMIN_CHANGE,
        outcome=Outcome.SUCCESS,
        user=instance.user,
        reason=_ADMIN_ACTIONS.get(instance.action_flag, "other"),
        client=_client(),
        resource=f"{model}:{instance.object_id}",
        detail=f"{instance.object_repr}: {instance.get_change_message()}",
    )


# ------------------------------------------------------------------------------ wiring


def connect() -> None:
    """Connect every receiver; called once from AuditConfig.ready()."""
    uid = "cardreveal.audit."
    user_logged_in.connect(on_logged_in, dispatch_uid=uid + "logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid=uid + "logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid=uid + "login_failed")
    account_signals.sign_in_verified.connect(on_sign_in_verified, dispatch_uid=uid + "verified")
    account_signals.otp_failed.connect(on_otp_failed, dispatch_uid=uid + "otp_failed")
    account_signals.otp_replay_rejected.connect(
        on_otp_replay_rejected, dispatch_uid=uid + "otp_replay"
    )
    account_signals.account_locked.connect(on_account_locked, dispatch_uid=uid + "locked")
    account_signals.account_unlocked.connect(on_account_unlocked, dispatch_uid=uid + "unlocked")
    account_signals.password_changed.connect(on_password_changed, dispatch_uid=uid + "password")
    post_save.connect(on_admin_log_entry, sender=LogEntry, dispatch_uid=uid + "logentry")
    for signal, receiver in (
        (account_signals.invitation_sent, on_invitation_sent),
        (account_signals.invitation_revoked, on_invitation_revoked),
        (account_signals.invitation_used, on_invitation_used),
        (account_signals.invitation_refused, on_invitation_refused),
        (account_signals.password_reset_requested, on_password_reset_requested),
        (account_signals.password_reset_completed, on_password_reset_completed),
        (account_signals.external_sign_in_refused, on_external_sign_in_refused),
    ):
        signal.connect(receiver, dispatch_uid=uid + receiver.__name__)

    from django_otp.models import Device

    for model in apps.get_models():
        if issubclass(model, Device):
            name = model._meta.label_lower
            post_init.connect(on_device_init, sender=model, dispatch_uid=uid + "init." + name)
            post_save.connect(on_device_saved, sender=model, dispatch_uid=uid + "save." + name)
            post_delete.connect(on_device_deleted, sender=model, dispatch_uid=uid + "del." + name)
