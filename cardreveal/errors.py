"""The project's own refusal: a stable code, a message for people, an HTTP status; no web framework."""

from __future__ import annotations


class ServiceError(Exception):
    """A service said no. Raised by services (or a subclass of it); the adapters above them (the
    API's exception handler, the web views) turn it into their answer, unchanged.

    `code`: a stable machine code, e.g. `account_locked`. `message`: a sentence safe to show the
    person who asked (never a secret, never a provider's answer). `status_code`: the HTTP status
    to answer with. `retry_after`: seconds before trying again can help, or None.
    """

    def __init__(
        self, code: str, message: str, status_code: int = 400, retry_after: int | None = None
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
