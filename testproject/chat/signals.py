"""Membership changes made anywhere (admin, commands, ORM code) reach the members' open connections.

Announced on commit, so a connection told to join a room never reads a membership that may still roll back.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, pre_delete
from django.dispatch import receiver

from . import services
from .models import ChatRoom

Changes = list[tuple[ChatRoom, list[int]]]


@receiver(m2m_changed, sender=ChatRoom.members.through)
def members_changed(instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any) -> None:
    """Announce added and removed members; ``clear()`` reports nobody afterwards, so read them before it."""
    if action not in {"post_add", "post_remove", "pre_clear"}:
        return
    changes: Changes
    if reverse:  # user.chat_rooms.add(...): the instance is a user and pk_set holds rooms.
        rooms = instance.chat_rooms.all() if action == "pre_clear" else ChatRoom.objects.filter(pk__in=pk_set or ())
        changes = [(room, [instance.pk]) for room in rooms]  # evaluated now, before clear() empties it
    else:
        user_ids = list(instance.members.values_list("pk", flat=True)) if action == "pre_clear" else list(pk_set or ())
        changes = [(instance, user_ids)]
    announce_on_commit(changes, member=action == "post_add")


@receiver(pre_delete, sender=ChatRoom)
def room_deleted(instance: ChatRoom, **kwargs: Any) -> None:
    """A deleted room loses its members without an m2m_changed signal: announce it here."""
    announce_on_commit([(instance, list(instance.members.values_list("pk", flat=True)))], member=False)


def announce_on_commit(changes: Changes, member: bool) -> None:
    def announce() -> None:
        for room, user_ids in changes:
            services.announce_membership(room, user_ids, member)

    # robust: the change is committed already; a Redis outage must not turn the admin's save into an error page.
    transaction.on_commit(announce, robust=True)
