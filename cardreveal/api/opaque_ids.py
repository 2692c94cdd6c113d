"""Opaque ids for the reveal history: a record's number enciphered, so an id says nothing about how
many reveals anyone makes, and cannot be guessed or ordered by a client."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.utils.crypto import salted_hmac

PREFIX = "rv_"
_SALT = "cardreveal.api.reveal-event-id"
_PAD = bytes(8)  # the block's second half: a mismatch marks an id this server never made


def _keys() -> list[bytes]:
    """AES-256 keys derived from SECRET_KEY, then from each of SECRET_KEY_FALLBACKS."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [salted_hmac(_SALT, "key", secret=s, algorithm="sha256").digest() for s in secrets]


# One AES block holding the record's number: a keyed permutation of 128-bit values, so every
# number has one id and no two share it. ECB is the mode for exactly one block (no chaining, no
# patterns across blocks to leak); nothing here needs to be hidden from its owner but the number.
def _block_cipher(key: bytes) -> Cipher[modes.ECB]:
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - one block, see above


def reveal_event_public_id(pk: int) -> str:
    """The public id of the reveal record numbered `pk`: `rv_` and 22 base64url characters. The
    same record has the same id until SECRET_KEY is rotated (old ids still decode while the old
    key is among SECRET_KEY_FALLBACKS)."""
    encryptor = _block_cipher(_keys()[0]).encryptor()
    block = encryptor.update(pk.to_bytes(8, "big") + _PAD) + encryptor.finalize()
    return PREFIX + base64.urlsafe_b64encode(block).rstrip(b"=").decode("ascii")


def reveal_event_pk(public_id: str) -> int | None:
    """The record number behind a public id, or None if it is not an id this server made."""
    if not public_id.startswith(PREFIX) or len(public_id) != len(PREFIX) + 22:
        return None
    text = public_id[len(PREFIX) :]
    try:
        block = base64.urlsafe_b64decode(text + "==")
    except (binascii.Error, ValueError):
        return None
    # Only the one spelling this server writes (the last character has two spare bits).
    if len(block) != 16 or base64.urlsafe_b64encode(block).rstrip(b"=").decode() != text:
        return None
    for key in _keys():
        decryptor = _block_cipher(key).decryptor()
        plain = decryptor.update(block) + decryptor.finalize()
        if plain[8:] == _PAD:
            return int.from_bytes(plain[:8], "big")
    return None
