"""The chat's WebSocket consumer: routes frames to the services and layer events to the client, nothing more."""

from __future__ import annotations

import contextlib
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from . import groups, guessing, presence, protocol, services
from .exceptions import LAYER_ERRORS, ChatError, ServiceUnavailable, TooManyFailures

#: Layer events whose handlers never touch the database: a room's broadcast reaches every member connection.
BROADCASTS = frozenset({groups.MESSAGE_EVENT, groups.PRESENCE_EVENT})


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """One connection serving all of a user's rooms: it is in the user's group and in each room's group."""

    user: AbstractBaseUser | None
    rooms: set[str]
    address: str  # whose failed tokens count together (guessing.py)
    failed_authentications: int

    async def dispatch(self, message: dict[str, Any]) -> None:
        """A broadcast goes straight to its handler, without Channels' ``close_old_connections`` first.

        Channels runs that in the thread of sync code before every message (issue 16): a thread
        hop per member per broadcast, queued behind the ORM work of every connection, for handlers
        that use no database. The other messages keep it; this consumer's ORM work runs through
        ``database_sync_to_async``, which closes old connections around each call anyway.
        """
        if message.get("type") in BROADCASTS:
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        self.user = None
        self.rooms = set()
        client = self.scope.get("client")
        self.address = guessing.client_address(client[0] if client else None)
        self.failed_authentications = 0
        await self.accept()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            try:
                await self.sign_in(user)
            except ServiceUnavailable:
                await self.close(code=protocol.TRY_AGAIN_LATER)  # the page reconnects with backoff
        elif settings.SESSION_COOKIE_NAME in self.scope.get("cookies", {}):
            # A page whose session ended (logged out elsewhere, expired, password changed): told so, it goes to
            # the login page instead of showing "Connected" while every action fails. Token clients send no cookie.
            await self.close(code=protocol.SESSION_ENDED)

    async def disconnect(self, code: int) -> None:
        if self.user is not None:
            await self.leave_groups(self.user)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Decode here rather than in the base class, so a bad frame gets a reply and close code 4003, not a crash."""
        if self.failed_authentications >= protocol.MAX_FAILED_AUTHENTICATIONS:
            return  # closed with 4429: frames sent before the close arrived are not read, their tokens not tried
        try:
            content = protocol.decode_frame(text_data, bytes_data)
        except protocol.ProtocolError as exc:
            await self.send_json(exc.reply())
            await self.close(code=protocol.UNSUPPORTED_DATA)
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        try:
            command = protocol.parse_command(content, authenticated=self.user is not None)
        except protocol.ProtocolError as exc:
            await self.send_json(exc.reply())
            return
        try:
            match command:
                case protocol.Authenticate():
                    await self.authenticate(command)
                case protocol.SelectRoom():
                    await self.select_room(command)
                case protocol.NewMessage():
                    await self.new_message(command)
        except ChatError as exc:
            await self.send_json(protocol.error(command.uuid, command.action, str(exc)))

    # Client actions

    async def authenticate(self, command: protocol.Authenticate) -> None:
        try:
            user = await database_sync_to_async(services.user_for_token)(command.token, self.address)
        except TooManyFailures as exc:
            await self.authentication_failed(command, str(exc))
            return
        if user is None:
            await self.authentication_failed(command, protocol.INVALID_TOKEN)
            return
        if self.user is not None and self.user.pk != user.pk:
            await self.send_json(protocol.error(command.uuid, command.action, protocol.ALREADY_AUTHENTICATED))
            return
        if self.user is None:
            await self.sign_in(user)
        await self.send_json(protocol.success(command.uuid, command.action))

    async def authentication_failed(self, command: protocol.Authenticate, message: str) -> None:
        """Reply with the error; after the connection's 5th failure, close it (4429)."""
        self.failed_authentications += 1
        await self.send_json(protocol.error(command.uuid, command.action, message))
        if self.failed_authentications >= protocol.MAX_FAILED_AUTHENTICATIONS:
            await self.close(code=protocol.TOO_MANY_FAILURES)

    async def select_room(self, command: protocol.SelectRoom) -> None:
        page = await database_sync_to_async(services.room_messages)(
            self.user, command.room, command.before, command.since
        )
        room = page.room.pk.hex
        online = await presence.online(self.channel_layer, room)
        await self.send_json(protocol.room_messages(command.uuid, room, page.messages, page.has_more, online))

    async def new_message(self, command: protocol.NewMessage) -> None:
        # No direct reply: this connection is in the room's group and gets the broadcast like every other.
        await database_sync_to_async(services.post_message)(self.user, command.room, command.text, command.uuid)

    # Layer events

    async def chat_message(self, event: dict[str, Any]) -> None:
        """A room's message; dropped if this connection left the room after it was queued here."""
        if event["room"] in self.rooms:
            await self.send_json(protocol.new_message(event["uuid"], event["room"], event["message"]))

    async def chat_membership(self, event: dict[str, Any]) -> None:
        """The user joined or left a room: follow its group (and be online in it) from now on, and tell the page."""
        if self.user is None:  # queued here before a sign-in that failed, and left every group
            return
        if event["member"]:
            await self.join_room(event["room"])
            await presence.track(self.channel_layer, self.channel_name, self.user, [event["room"]])
        else:
            await self.leave_room(event["room"])
        await self.send_json(protocol.membership(event["room"], event["title"], event["member"]))

    async def chat_presence(self, event: dict[str, Any]) -> None:
        """Members of a room came online or went offline; dropped if this connection left the room meanwhile."""
        for room, username, online in presence.changes(event):
            if room in self.rooms:
                await self.send_json(protocol.presence(room, username, online))

    # Groups

    async def sign_in(self, user: AbstractBaseUser) -> None:
        """Join the user's group before reading their rooms, so a membership change in between is not lost.

        Then the user is online in every room (README, "Who is online"). All or nothing: if the layer
        cannot reach Redis, the connection stays signed out, in no group and online nowhere.
        """
        try:
            await self.channel_layer.group_add(groups.user_group(user.pk), self.channel_name)
            for room in await database_sync_to_async(services.rooms_of)(user):
                await self.join_room(room.pk.hex)
            await presence.track(self.channel_layer, self.channel_name, user, self.rooms)
        except LAYER_ERRORS as exc:
            with contextlib.suppress(*LAYER_ERRORS):
                await self.leave_groups(user)
            raise ServiceUnavailable() from exc
        self.user = user

    async def leave_groups(self, user: AbstractBaseUser) -> None:
        await self.channel_layer.group_discard(groups.user_group(user.pk), self.channel_name)
        for room in list(self.rooms):
            await self.leave_room(room)

    async def join_room(self, room: str) -> None:
        await self.channel_layer.group_add(groups.room_group(room), self.channel_name)
        self.rooms.add(room)

    async def leave_room(self, room: str) -> None:
        self.rooms.discard(room)
        # The layer forgets the channel before it asks Redis, and its next beat re-asserts what it tracks when an
        # untrack failed; so an outage must not keep the connection in the room's group.
        with contextlib.suppress(*LAYER_ERRORS):
            await presence.untrack(self.channel_layer, self.channel_name, room)
        await self.channel_layer.group_discard(groups.room_group(room), self.channel_name)
