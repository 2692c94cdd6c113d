"""Sign-in, TOTP enrolment with backup codes, and one-time-password step-up verification."""
