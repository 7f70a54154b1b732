"""The chat's ORM work and its broadcasts: synchronous, shared by the consumer, the views and the commands.

The consumer calls these through ``database_sync_to_async``; they reach the channel layer with
``async_to_sync``, which is the path any ordinary Django code takes to push data to WebSocket clients.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from . import groups
from .exceptions import LAYER_ERRORS, InvalidText, NotAMember, RoomNotFound, ServiceUnavailable
from .models import ApiToken, ChatMessage, ChatRoom
from .serializers import message_payload

HISTORY_LENGTH = 20
MAX_TEXT_LENGTH = 4000


def user_for_token(key: object) -> AbstractBaseUser | None:
    """The active user owning the API token ``key``, or None."""
    if not isinstance(key, str) or not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key=key, user__is_active=True).first()
    return token.user if token else None


def rooms_of(user: AbstractBaseUser) -> list[ChatRoom]:
    return list(ChatRoom.objects.filter(members=user))


def room_history(user: AbstractBaseUser, room_id: object) -> tuple[ChatRoom, list[dict[str, Any]]]:
    """The room and its latest ``HISTORY_LENGTH`` messages, oldest first; InvalidRoom unless ``user`` is a member."""
    room = member_room(user, room_id)
    return room, [message_payload(message) for message in reversed(list(latest_messages(room)))]


def latest_messages(room: ChatRoom) -> QuerySet[ChatMessage]:
    """Newest first, read through the ``chat_message_room_latest`` index."""
    return room.messages.select_related("author", "room").order_by("-created", "-id")[:HISTORY_LENGTH]


def post_message(user: AbstractBaseUser, room_id: object, text: object, request_uuid: str) -> dict[str, Any]:
    """Store a message and send it to every connection of every member with one group_send; returns its payload."""
    room = member_room(user, room_id)
    message = ChatMessage.objects.create(room=room, author=user, text=clean_text(text))
    payload = message_payload(message)
    event = {"type": groups.MESSAGE_EVENT, "uuid": request_uuid, "room": room.pk.hex, "message": payload}
    try:
        async_to_sync(get_channel_layer().group_send)(groups.room_group(room.pk.hex), event)
    except LAYER_ERRORS as exc:
        # Not posted, so that a retry makes no duplicate. Deleted rather than rolled back: a transaction
        # open across the broadcast would hold SQLite's write lock for every other writer meanwhile.
        message.delete()
        raise ServiceUnavailable() from exc
    return payload


def announce_membership(room: ChatRoom, user_ids: Iterable[int], member: bool) -> None:
    """Tell each user's open connections to join (``member``) or leave the room's group."""
    send = async_to_sync(get_channel_layer().group_send)
    for user_id in user_ids:
        send(
            groups.user_group(user_id),
            {"type": groups.MEMBERSHIP_EVENT, "room": room.pk.hex, "title": room.title, "member": member},
        )


def member_room(user: AbstractBaseUser, room_id: object) -> ChatRoom:
    """The room ``room_id`` (hex or hyphenated); RoomNotFound or NotAMember, both an InvalidRoom."""
    try:
        room = ChatRoom.objects.get(pk=uuid.UUID(room_id)) if isinstance(room_id, str) else None
    except (ValueError, ChatRoom.DoesNotExist):
        room = None
    if room is None:
        raise RoomNotFound()
    if not room.members.filter(pk=user.pk).exists():
        raise NotAMember()
    return room


def clean_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidText("Message text must be a string")
    if not text.strip():
        raise InvalidText("Message text can't be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidText(f"Message text can't be longer than {MAX_TEXT_LENGTH} characters ({len(text)} given)")
    return text
