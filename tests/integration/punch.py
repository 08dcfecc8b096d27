"""punch.py -- Hysteria Realms punch packets, written from the wire format
(the relay's tests and benchmark speak it):

  wire:      salt (8 random bytes) | plaintext XOR mask
  plaintext: b"HYRLMv1\\0" | type (1: 0x01 hello, 0x02 ack) | nonce (16) |
             0..1024 random padding bytes
  mask:      SHA-256(obfs key (32) || salt), repeated every 32 bytes
"""

import hashlib
import os

MAGIC = b"HYRLMv1\0"
HELLO = 0x01
ACK = 0x02
MIN_LEN = 8 + 25
MAX_LEN = MIN_LEN + 1024


def _mask(key, salt, n):
    block = hashlib.sha256(key + salt).digest()
    return (block * (n // 32 + 1))[:n]


def encode(key, nonce, ptype=HELLO, padding=None, salt=None):
    """A punch packet of ptype for nonce under key (bytes of 32 and 16)."""
    assert len(key) == 32 and len(nonce) == 16
    salt = os.urandom(8) if salt is None else salt
    if padding is None:
        padding = os.urandom(int.from_bytes(os.urandom(2), "big") % 1025)
    plain = MAGIC + bytes([ptype]) + nonce + padding
    mask = _mask(key, salt, len(plain))
    return salt + bytes(a ^ b for a, b in zip(plain, mask))


def decode(key, packet):
    """(type, nonce) of a valid packet under key, else None."""
    if not MIN_LEN <= len(packet) <= MAX_LEN:
        return None
    salt, body = packet[:8], packet[8:]
    plain = bytes(a ^ b for a, b in zip(body, _mask(key, salt, len(body))))
    if plain[:8] != MAGIC or plain[8] not in (HELLO, ACK):
        return None
    return plain[8], plain[9:25]
