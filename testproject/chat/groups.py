"""Names of the layer groups the chat uses, and the event types sent to them."""

# Every connection of a member of the room is in its group: one group_send per message reaches them all.
MESSAGE_EVENT = "chat.message"
# Every connection of a user is in the user's group, so a membership change reaches connections open anywhere.
MEMBERSHIP_EVENT = "chat.membership"
# The layer's presence_message_type (settings.CHANNEL_LAYERS): a user came online or went offline in a room.
PRESENCE_EVENT = "chat.presence"

_ROOM_GROUP_HEAD = "chat.room."


def room_group(room_hex: str) -> str:
    return f"{_ROOM_GROUP_HEAD}{room_hex}"


def room_of(group: str) -> str | None:
    """The room id (hex) whose group is ``group``; None for any other group."""
    return group.removeprefix(_ROOM_GROUP_HEAD) if group.startswith(_ROOM_GROUP_HEAD) else None


def user_group(user_id: int) -> str:
    return f"chat.user.{user_id}"
