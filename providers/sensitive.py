"""A wrapper for values that must never be printed, logged, pickled or cached: CVVs, secrets."""

from __future__ import annotations

import hmac
from typing import Generic, NoReturn, TypeVar

T = TypeVar("T", bound=str | bytes)


class Sensitive(Generic[T]):
    """Holds one secret value; `repr`/`str` are masked and pickling is refused.

    Call `reveal()` only in the one expression that needs the raw value.
    """

    __slots__ = ("_value",)
    _value: T

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        """Return the raw value."""
        return self._value

    def __repr__(self) -> str:
        return "Sensitive('********')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sensitive):
            return NotImplemented
        a, b = self._value, other._value
        if isinstance(a, str) and isinstance(b, str):
            return hmac.compare_digest(a.encode(), b.encode())
        if isinstance(a, bytes) and isinstance(b, bytes):
            return hmac.compare_digest(a, b)
        return False

    def __hash__(self) -> int:
        return id(self)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("Sensitive values cannot be pickled, cached or stored in a session.")
