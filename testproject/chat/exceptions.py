"""Errors of the chat's services, shown to WebSocket and HTTP clients alike.

ChatError
    InvalidRoom: the room id is malformed, unknown, or not one of the user's rooms
        RoomNotFound
        NotAMember
    InvalidText: empty, or longer than the limit
    ServiceUnavailable: the channel layer cannot reach Redis; nothing was changed, try again
"""

from redis.exceptions import RedisError

#: What a channel layer raises when it cannot reach its Redis: ChannelLayerUnavailable is a ConnectionError,
#: TimeoutError an OSError too, and channels_redis lets redis-py's errors through.
LAYER_ERRORS = (OSError, RedisError)


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


class ServiceUnavailable(ChatError):
    def __init__(self) -> None:
        super().__init__("The chat is unavailable right now; nothing was changed, try again shortly")
