"""The chat's ORM work and its broadcasts: synchronous, shared by the consumer, the views and the commands.

The consumer calls these through ``database_sync_to_async``; they reach the channel layer with
``async_to_sync``, which is the path any ordinary Django code takes to push data to WebSocket clients.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max, QuerySet

from . import groups, guessing, ratelimit, tokens
from .exceptions import LAYER_ERRORS, InvalidText, NotAMember, RoomNotFound, ServiceUnavailable, UnknownMessage
from .models import ApiToken, ChatMessage, ChatRoom
from .serializers import message_payload

HISTORY_LENGTH = 20  # a page of the latest messages, or of those before a message (scrollback)
CATCH_UP_LENGTH = 100  # a page of the messages since a message (catching up after a reconnect)
MAX_TEXT_LENGTH = 4000
MAX_MESSAGE_ID = 2**63 - 1  # a BigAutoField; SQLite cannot even compare a larger integer (OverflowError)


@dataclass(frozen=True)
class Page:
    """Messages of a room, oldest first; ``has_more`` when the page left out more in the direction it reads."""

    room: ChatRoom
    messages: list[dict[str, Any]]
    has_more: bool


def user_for_token(key: object, address: str) -> AbstractBaseUser | None:
    """The active user owning the API token ``key``, or None; TooManyFailures once ``address`` failed too often."""
    attempt = guessing.attempt(address)
    user = token_owner(key)
    if user is not None:
        guessing.succeeded(attempt)
    return user


def token_owner(key: object) -> AbstractBaseUser | None:
    """The active user owning the API token ``key``, or None: found by its selector, compared by digest (tokens.py)."""
    if not tokens.is_well_formed(key):
        return None
    candidates = ApiToken.objects.select_related("user").filter(selector=tokens.selector(key), user__is_active=True)
    # Selectors are random, not unique: two tokens may share one, so each candidate is checked.
    return next((token.user for token in candidates if token.check_token(key)), None)


def issue_token(user: AbstractBaseUser) -> str:
    """A new API token for ``user``, replacing the one they had: the only time it can be shown."""
    key = tokens.new_token()
    token = ApiToken(user=user)
    token.set_token(key)
    with transaction.atomic():
        ApiToken.objects.filter(user=user).delete()
        token.save()
    return key


def rooms_of(user: AbstractBaseUser) -> list[ChatRoom]:
    return list(ChatRoom.objects.filter(members=user))


def room_list(user: AbstractBaseUser) -> list[dict[str, Any]]:
    """The user's rooms for the page: ``id``, ``title`` and ``last``, the id of the latest message (0 if none)."""
    # Ordered here: Django leaves Meta.ordering out of a query with GROUP BY (the annotation's).
    rooms = ChatRoom.objects.filter(members=user).annotate(last=Max("messages__id")).order_by("title", "created")
    return [{"id": room.pk.hex, "title": room.title, "last": room.last or 0} for room in rooms]


def room_messages(user: AbstractBaseUser, room_id: object, before: int | None = None, since: int | None = None) -> Page:
    """The latest messages of a member's room, or those ``before`` a message of it, or those ``since`` one."""
    room = member_room(user, room_id)
    if since is not None:
        newer = list(page_query(room, since=known_message(room, "since", since)))
        return Page(room, payloads(newer[:CATCH_UP_LENGTH]), len(newer) > CATCH_UP_LENGTH)
    older = list(page_query(room, before=None if before is None else known_message(room, "before", before)))
    return Page(room, payloads(reversed(older[:HISTORY_LENGTH])), len(older) > HISTORY_LENGTH)


def page_query(room: ChatRoom, before: int | None = None, since: int | None = None) -> QuerySet[ChatMessage]:
    """A page and one message more (whether there are more): newest first, or oldest first ``since`` a message.

    In id order, the order the database stored them in, rather than by ``created``: a cursor then skips no
    message whose clock reading came earlier than its neighbour's but whose row was written later. Read
    through the ``chat_message_room_order`` index.
    """
    messages = room.messages.select_related("author")
    if since is not None:
        return messages.filter(pk__gt=since).order_by("id")[: CATCH_UP_LENGTH + 1]
    if before is not None:
        messages = messages.filter(pk__lt=before)
    return messages.order_by("-id")[: HISTORY_LENGTH + 1]


def payloads(messages: Iterable[ChatMessage]) -> list[dict[str, Any]]:
    return [message_payload(message) for message in messages]


def known_message(room: ChatRoom, key: str, message_id: int) -> int:
    """``message_id`` if it is a message of ``room``; UnknownMessage naming ``key`` otherwise."""
    if not 0 < message_id <= MAX_MESSAGE_ID or not room.messages.filter(pk=message_id).exists():
        raise UnknownMessage(key, message_id)
    return message_id


def post_message(user: AbstractBaseUser, room_id: object, text: object, request_uuid: str) -> dict[str, Any]:
    """Store a message and send it to every connection of every member with one group_send; returns its payload.

    TooFast, and nothing stored or sent, beyond the user's CHAT_RATE_LIMIT; only valid messages are counted.
    """
    room = member_room(user, room_id)
    text = clean_text(text)
    ratelimit.count_post(user.pk)
    message = ChatMessage.objects.create(room=room, author=user, text=text)
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
