"""The REST API for the mobile app, under /api/v1/: token login with OTP, cards, sealed reveals."""
