"""The WebSocket wire format, pure: a frame becomes a command or a ProtocolError; every server frame is built here.

Client frames are JSON objects with ``uuid`` and ``action``; replies echo both and add ``status`` (``success`` or
``error``) and, on error, ``error_message``. The server also pushes, unasked: ``new_message`` (with the sender's
``uuid``) to every connection of every member of the room, ``membership`` (``uuid`` null; ``room``, ``title``
and ``member``) when the user joins or leaves a room, and ``presence`` (``uuid`` null; ``room``, ``user`` and
``online``) to every connection of every member when one of them comes online or goes offline in the room.
``select_room`` pages through a room's messages with ``before`` (scrollback) or ``since`` (catching up), says in
``has_more`` whether the page left any out, and lists in ``online`` who is online in the room.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any, ClassVar

# RFC 6455's 1003 (unsupported data) cannot be sent: daphne lets an application close only with 1000 or 3000-4999.
UNSUPPORTED_DATA = 4003
TRY_AGAIN_LATER = 4013  # 1013 in the private range: daphne closes only with 1000 or 3000-4999
# HTTP's 401 in the private range (as graphql-ws uses it): the handshake's session cookie names no live session.
SESSION_ENDED = 4401
# HTTP's 429 in the private range: the connection sent MAX_FAILED_AUTHENTICATIONS wrong tokens (or was refused
# them by its address's limit), so guessing takes a new connection every few tries.
TOO_MANY_FAILURES = 4429
MAX_FAILED_AUTHENTICATIONS = 5
MAX_UUID_LENGTH = 100

AUTHENTICATION_REQUIRED = "Authentication required before sending any other messages"
INVALID_TOKEN = "Invalid authentication token"
ALREADY_AUTHENTICATED = "This connection is authenticated as another user; open a new connection to switch"
BEFORE_AND_SINCE = "Send 'before' (older messages) or 'since' (newer messages), not both"


@dataclass(frozen=True)
class Authenticate:
    action: ClassVar[str] = "authenticate"
    uuid: str
    token: Any


@dataclass(frozen=True)
class SelectRoom:
    """The room's latest messages; or those just ``before`` a message, or ``since`` one: a message id, or None."""

    action: ClassVar[str] = "select_room"
    uuid: str
    room: Any
    before: int | None = None
    since: int | None = None


@dataclass(frozen=True)
class NewMessage:
    action: ClassVar[str] = "new_message"
    uuid: str
    room: Any
    text: Any


Command = Authenticate | SelectRoom | NewMessage
COMMANDS: dict[str, type[Command]] = {command.action: command for command in (Authenticate, SelectRoom, NewMessage)}


class ProtocolError(Exception):
    """A frame answered with an error; a ``fatal`` one (not a JSON object) also closes the connection."""

    def __init__(self, message: str, uuid: Any = None, action: Any = None, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.uuid = uuid
        self.action = action
        self.fatal = fatal

    def reply(self) -> dict[str, Any]:
        return error(self.uuid, self.action, str(self))


def decode_frame(text: str | None, binary: bytes | None = None) -> dict[str, Any]:
    """The JSON object in a text frame; a fatal ProtocolError for a binary frame, bad JSON or another JSON value."""
    if text is None:
        raise ProtocolError(
            "Binary frames are not supported: send each message as a JSON object in a text frame", fatal=True
        )
    try:
        content = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"The frame is not valid JSON ({exc}): send a JSON object", fatal=True) from None
    if not isinstance(content, dict):
        raise ProtocolError(f"The frame must be a JSON object, not {json_type(content)}", fatal=True)
    return content


def parse_command(content: dict[str, Any], authenticated: bool) -> Command:
    """The command in a decoded frame; only ``authenticate`` is accepted until the connection is authenticated."""
    uuid, action = content.get("uuid"), content.get("action")
    missing = [key for key in ("uuid", "action") if key not in content]
    if missing:
        raise ProtocolError(
            f"Every message needs the keys 'uuid' and 'action'; missing: {quoted(missing)}", uuid, action
        )
    if not isinstance(uuid, str) or len(uuid) > MAX_UUID_LENGTH:
        raise ProtocolError(f"'uuid' must be a string of at most {MAX_UUID_LENGTH} characters", None, action)
    command_type = COMMANDS.get(action) if isinstance(action, str) else None
    if command_type is None:
        raise ProtocolError(f"Unknown action {action!r}; allowed actions: {quoted(COMMANDS)}", uuid, action)
    if not authenticated and command_type is not Authenticate:
        raise ProtocolError(AUTHENTICATION_REQUIRED, uuid, action)
    keys = [field.name for field in fields(command_type) if field.name != "uuid" and field.default is MISSING]
    missing = [key for key in keys if key not in content]
    if missing:
        raise ProtocolError(
            f"The action {action!r} needs the keys {quoted(keys)}; missing: {quoted(missing)}", uuid, action
        )
    command = command_type(uuid, *(content[key] for key in keys))
    return with_cursor(command, content) if isinstance(command, SelectRoom) else command


def with_cursor(command: SelectRoom, content: dict[str, Any]) -> SelectRoom:
    """``select_room`` with its optional ``before`` or ``since``: an integer message id if given, never both."""
    given = [key for key in ("before", "since") if key in content]
    if len(given) > 1:
        raise ProtocolError(BEFORE_AND_SINCE, command.uuid, command.action)
    if not given:
        return command
    key, value = given[0], content[given[0]]
    if not isinstance(value, int) or isinstance(value, bool):
        shown = repr(value) if isinstance(value, float) else json_type(value)
        raise ProtocolError(
            f"Unknown message: {key!r} must be the integer id of a message of this room, not {shown}",
            command.uuid,
            command.action,
        )
    return replace(command, **{key: value})


def success(uuid: Any, action: str, **fields: Any) -> dict[str, Any]:
    return {"uuid": uuid, "action": action, "status": "success", **fields}


def error(uuid: Any, action: Any, message: str) -> dict[str, Any]:
    return {"uuid": uuid, "action": action, "status": "error", "error_message": message}


def room_messages(
    uuid: str, room: str, messages: list[dict[str, Any]], has_more: bool, online: list[str] | None = None
) -> dict[str, Any]:
    """The reply to ``select_room``: ``has_more`` says whether the page left out messages in its direction.

    ``online``: the usernames online in the room, sorted; left out when the channel layer has no presence.
    """
    fields = {} if online is None else {"online": online}
    return success(uuid, SelectRoom.action, room=room, room_messages=messages, has_more=has_more, **fields)


def new_message(uuid: str, room: str, message: dict[str, Any]) -> dict[str, Any]:
    return success(uuid, "new_message", room=room, message=message)


def membership(room: str, title: str, member: bool) -> dict[str, Any]:
    return success(None, "membership", room=room, title=title, member=member)


def presence(room: str, username: str, online: bool) -> dict[str, Any]:
    """``username`` came online (their first connection signed in) or went offline (their last closed) in ``room``."""
    return success(None, "presence", room=room, user={"username": username}, online=online)


def quoted(names: Any) -> str:
    return ", ".join(f"'{name}'" for name in names)


def json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
