"""Account-security signals, sent for the audit trail to record; this app only sends them.

Every signal is sent synchronously, after the state change it reports has been written, inside
any transaction the caller holds (an audit row written by a receiver commits or rolls back with
it). `client` is a `cardreveal.client_info.ClientInfo` or None when no request is at hand.
`sender` is always `AccountSecurity`.
"""

from __future__ import annotations

from django.dispatch import Signal

# Both sign-in steps passed: the password, then a code from the authenticator (or a backup code,
# or the first code of an enrolment). kwargs: user, device (the one that took the code), client.
# Django's `user_logged_in` marks the password step alone, except where the code came with the
# password (django-otp's forms set `user.otp_device` first, as the admin's sign-in does).
sign_in_verified = Signal()

# The user reached the failure threshold. kwargs: user, locked_until (aware datetime),
# failures (int), trigger ("password" or "otp"), client.
account_locked = Signal()

# An admin lifted a lock before it ran out. kwargs: user, by (the admin user), client.
# Locks that simply expire send nothing.
account_unlocked = Signal()

# A one-time code was not accepted, for any reason but a replay (exactly one of otp_failed or
# otp_replay_rejected per failed check). kwargs: user, reason (an OtpFailure value such as
# "otp_invalid", "otp_throttled", "otp_malformed", "account_locked"), context ("sign_in" or
# "reveal"), client.
otp_failed = Signal()

# The code just accepted was submitted again (a replay or a double submit). kwargs: user,
# context, client.
otp_replay_rejected = Signal()

# A signed-in account's password changed (any path: own page, admin, changepassword).
# kwargs: user, changed_at, cooloff_until.
password_changed = Signal()

# A TOTP authenticator was confirmed (enrolment) or added confirmed in the admin.
# kwargs: user, device, added_at, cooloff_until, by (the admin user, or None for the cardholder).
authenticator_added = Signal()

# An invitation was emailed (a first one, or a resend, which revokes the pending one first).
# kwargs: user, invitation, by (the admin user, or None when the system sent it), revoked (how
# many pending invitations it replaced), client.
invitation_sent = Signal()

# An admin withdrew a cardholder's pending invitations. kwargs: user, by, revoked (int), client.
invitation_revoked = Signal()

# An invitation's link was used to set the account's first password. kwargs: user, invitation,
# client.
invitation_used = Signal()

# An invitation's link was refused because it was used, revoked or expired. kwargs: user,
# invitation, reason ("link_used", "link_revoked" or "link_expired"), client.
invitation_refused = Signal()

# Someone asked for a password reset email for an address that belongs to `user` (requests for
# unknown addresses send nothing). kwargs: user, client.
password_reset_requested = Signal()

# A password was reset with an emailed reset link. kwargs: user, client.
password_reset_completed = Signal()

# The bank's identity provider signed someone in whom no cardholder here is linked to, or a
# cardholder who cannot sign in. kwargs: external_id (the claim's value, "" when missing),
# reason ("unknown_external_id", "no_external_id", "account_inactive"), client.
external_sign_in_refused = Signal()

# A cardholder was created by provisioning (the bank's API, or an admin's file import), inside the
# provisioning transaction: a receiver that sends mail (an invitation) defers it with
# `transaction.on_commit`, so a batch or file refused as a whole invites nobody.
# kwargs: user (the new cardholder), by (a `cardreveal.provisioning.services.Actor`: who made it).
# `sender` is `ExternalIdentity`.
cardholder_provisioned = Signal()
