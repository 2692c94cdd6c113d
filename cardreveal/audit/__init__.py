"""The audit trail: one record per reveal attempt, never a CVV; the cardholder's own history."""
