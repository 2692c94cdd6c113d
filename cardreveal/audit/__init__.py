"""The audit trail: hash-chained reveal and account events, receipts, the global reveal switch."""
