"""Names of the layer groups the chat uses, and the event types sent to them."""

# Every connection of a member of the room is in its group: one group_send per message reaches them all.
MESSAGE_EVENT = "chat.message"
# Every connection of a user is in the user's group, so a membership change reaches connections open anywhere.
MEMBERSHIP_EVENT = "chat.membership"


def room_group(room_hex: str) -> str:
    return f"chat.room.{room_hex}"


def user_group(user_id: int) -> str:
    return f"chat.user.{user_id}"
