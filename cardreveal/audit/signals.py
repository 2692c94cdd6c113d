"""Audit-trail signals, for the apps above audit to act on; this app only sends them.

Sent synchronously, inside the transaction that records the event, so whatever a receiver changes
commits or rolls back with the audit record, and a receiver that raises undoes both.
`sender` is always `RevealEvent`.
"""

from __future__ import annotations

from django.dispatch import Signal

# A cardholder used a receipt's "This wasn't me" link: the reveal was not theirs. kwargs: user
# (the cardholder), card_id (uuid.UUID, the card the reveal was of), event (the RevealEvent).
# The cards app freezes that card; a receiver returns how many cards it froze (an int), and the
# audit record counts them.
reveal_disowned = Signal()
