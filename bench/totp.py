"""RFC 6238 TOTP codes, computed as an authenticator app does, for the benchmark's cardholders."""

from __future__ import annotations

import hashlib
import hmac
import struct


def totp(key_hex: str, at: float, *, step: int = 1, digits: int = 6) -> str:
    """The HMAC-SHA1 TOTP code of the device with key `key_hex` at UNIX time `at`."""
    counter = int(at // step)
    mac = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"
