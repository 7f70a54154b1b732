"""Errors of the chat's services, shown to WebSocket and HTTP clients alike.

ChatError
    InvalidRoom: the room id is malformed, unknown, or not one of the user's rooms
        RoomNotFound
        NotAMember
    InvalidText: empty, or longer than the limit
"""


class ChatError(Exception):
    """An error whose message is meant for the client."""


class InvalidRoom(ChatError):
    def __init__(self) -> None:
        super().__init__("Invalid room id")


class RoomNotFound(InvalidRoom):
    pass


class NotAMember(InvalidRoom):
    pass


class InvalidText(ChatError):
    pass
