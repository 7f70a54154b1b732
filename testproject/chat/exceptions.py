"""Errors of the chat's services, shown to WebSocket and HTTP clients alike.

ChatError
    InvalidRoom: the room id is malformed, unknown, or not one of the user's rooms
        RoomNotFound
        NotAMember
    InvalidText: empty, or longer than the limit
    UnknownMessage: a ``before`` or ``since`` that names no message of the room
    TooFast: the user posted more than CHAT_RATE_LIMIT allows; nothing was posted, try again after ``retry_after``
    TooManyFailures: the client's address sent more wrong tokens than CHAT_TOKEN_FAILURE_LIMIT allows; no token
        is checked from there until ``retry_after``
    ServiceUnavailable: the channel layer or the cache cannot reach Redis; nothing was changed, try again
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


class UnknownMessage(ChatError):
    def __init__(self, key: str, message_id: int) -> None:
        super().__init__(f"Unknown message {message_id}: {key!r} must be the id of a message of this room")


class TooFast(ChatError):
    def __init__(self, messages: int, seconds: int, retry_after: int) -> None:
        super().__init__(
            f"You are sending messages too fast: at most {messages} messages in {seconds} seconds. "
            f"Try again in {retry_after} second{'' if retry_after == 1 else 's'}."
        )
        self.retry_after = retry_after


class TooManyFailures(ChatError):
    def __init__(self, failures: int, seconds: int, retry_after: int) -> None:
        super().__init__(
            f"Too many failed authentication attempts from your address: at most {failures} in {seconds} seconds. "
            f"Try again in {retry_after} second{'' if retry_after == 1 else 's'}."
        )
        self.retry_after = retry_after


class ServiceUnavailable(ChatError):
    def __init__(self) -> None:
        super().__init__("The chat is unavailable right now; nothing was changed, try again shortly")
