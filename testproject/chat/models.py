"""Rooms, their messages, and the API tokens that authenticate WebSocket and HTTP clients."""

from __future__ import annotations

import hmac
import uuid

from django.conf import settings
from django.db import models

from . import tokens


class ChatRoom(models.Model):
    """A room: its members receive every message posted in it on all their open connections."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="chat_rooms", blank=True)

    class Meta:
        ordering = ["title", "created"]

    def __str__(self) -> str:
        return self.title


class ChatMessage(models.Model):
    """One message; read back a page at a time in a room, newest or oldest first from a message, as the index serves."""

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["room", "id"], name="chat_message_room_order")]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.text[:50]}"


class ApiToken(models.Model):
    """A user's API token (one per user) for clients without a browser session; only its digest is stored.

    Issued with ``set_token`` and checked with ``check_token``, as a password is (see tokens.py).
    """

    digest = models.CharField(max_length=64, primary_key=True, editable=False)  # SHA-256 of the token, hex
    selector = models.CharField(max_length=tokens.SELECTOR_LENGTH, db_index=True, editable=False)  # public
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_token")
    created = models.DateTimeField(auto_now_add=True)

    #: The token in the clear, on the instance ``set_token`` was given it only: never stored, shown once.
    token: str | None = None

    def __str__(self) -> str:
        return f"API token of {self.user}"

    def set_token(self, token: str) -> None:
        self.selector, self.digest, self.token = tokens.selector(token), tokens.digest(token), token

    def check_token(self, token: str) -> bool:
        """Whether ``token`` is this one, in constant time: how long it takes tells nothing of the digest."""
        return hmac.compare_digest(self.digest, tokens.digest(token))
