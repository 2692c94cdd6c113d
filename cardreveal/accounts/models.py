"""Accounts use Django's user model and django-otp's devices; no models of their own yet."""
