"""Message bodies to bytes and back: msgpack (default) or JSON, optionally Fernet-encrypted."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import msgpack

__all__ = ["Serializer"]


class Serializer:
    """Encodes one message dict to bytes and back; the same instance serves every loop."""

    def __init__(
        self, serializer_format: str = "msgpack", symmetric_encryption_keys: Sequence[str | bytes] = ()
    ) -> None:
        self.format = serializer_format
        self._crypter = _crypter(symmetric_encryption_keys) if symmetric_encryption_keys else None

    def dumps(self, message: dict[str, Any]) -> bytes:
        """Encode ``message``; a value the format cannot hold raises TypeError naming the format."""
        try:
            if self.format == "msgpack":
                data: bytes = msgpack.packb(message, use_bin_type=True)
            else:
                data = json.dumps(message, separators=(",", ":")).encode()
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"The message cannot be encoded with {self.format}: {exc}") from exc
        if self._crypter is not None:
            data = self._crypter.encrypt(data)
        return data

    def loads(self, data: bytes) -> dict[str, Any]:
        """Decode bytes made by ``dumps``; anything else raises ValueError."""
        try:
            if self._crypter is not None:
                data = self._crypter.decrypt(data)
            if self.format == "msgpack":
                message = msgpack.unpackb(data, raw=False, strict_map_key=False)
            else:
                message = json.loads(data)
        except Exception as exc:  # msgpack, json and cryptography each raise their own types
            raise ValueError(f"Undecodable message body ({type(exc).__name__}: {exc})") from exc
        if not isinstance(message, dict):
            raise ValueError(f"Decoded message is a {type(message).__name__}, not a dict")
        return message


def _crypter(keys: Sequence[str | bytes]) -> Any:
    """MultiFernet over the keys, as channels_redis derives them, so both layers read each other's keys."""
    try:
        from cryptography.fernet import Fernet, MultiFernet
    except ImportError as exc:
        raise ImportError(
            "symmetric_encryption_keys needs the 'cryptography' package: pip install channels-fanout[cryptography]"
        ) from exc
    fernets = []
    for key in keys:
        raw = key.encode() if isinstance(key, str) else key
        fernets.append(Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw).digest())))
    return MultiFernet(fernets)
