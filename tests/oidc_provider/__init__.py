"""A small real OpenID Connect provider (django-oidc-provider) that the tests run as its own process."""
