"""Rooms, their messages, and the API tokens that authenticate WebSocket and HTTP clients."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models


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


def new_token_key() -> str:
    return secrets.token_hex(20)


class ApiToken(models.Model):
    """A user's API token (one per user, like DRF's authtoken) for clients without a browser session."""

    key = models.CharField(max_length=40, primary_key=True, default=new_token_key, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_token")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"API token of {self.user}"
