"""The one JSON shape of a message, for history and broadcast alike."""

from __future__ import annotations

from typing import Any

from .models import ChatMessage


def message_payload(message: ChatMessage) -> dict[str, Any]:
    """``id``, ``user`` (``{"username"}``), ``room`` (hex id), ``timestamp`` (epoch seconds) and ``text``."""
    return {
        "id": message.pk,
        "user": {"username": message.author.get_username()},
        "room": message.room_id.hex,
        "timestamp": message.created.timestamp(),
        "text": message.text,
    }
