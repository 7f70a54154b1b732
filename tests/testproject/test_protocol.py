"""The wire format alone: frames to commands or errors, with the exact messages clients see."""

import pytest

from testproject.chat import protocol
from testproject.chat.protocol import Authenticate, NewMessage, ProtocolError, SelectRoom


@pytest.mark.parametrize(
    ("content", "command"),
    [
        ({"uuid": "1", "action": "authenticate", "token": "k"}, Authenticate("1", "k")),
        ({"uuid": "2", "action": "select_room", "room": "r"}, SelectRoom("2", "r")),
        ({"uuid": "3", "action": "new_message", "room": "r", "text": "hi", "extra": 1}, NewMessage("3", "r", "hi")),
    ],
)
def test_each_action_parses_into_its_command(content, command):
    assert protocol.parse_command(content, authenticated=True) == command


@pytest.mark.parametrize(
    ("cursor", "command"),
    [
        ({}, SelectRoom("1", "r")),
        ({"before": 7}, SelectRoom("1", "r", before=7)),
        ({"since": 7}, SelectRoom("1", "r", since=7)),
        ({"since": 0}, SelectRoom("1", "r", since=0)),  # an integer: whether it names a message is for the service
    ],
)
def test_select_room_takes_an_optional_before_or_since(cursor, command):
    assert protocol.parse_command({"uuid": "1", "action": "select_room", "room": "r", **cursor}, True) == command


def test_select_room_with_both_before_and_since_is_an_error():
    with pytest.raises(ProtocolError) as error:
        protocol.parse_command({"uuid": "1", "action": "select_room", "room": "r", "before": 5, "since": 3}, True)
    assert error.value.reply() == {
        "uuid": "1",
        "action": "select_room",
        "status": "error",
        "error_message": "Send 'before' (older messages) or 'since' (newer messages), not both",
    }
    assert not error.value.fatal


@pytest.mark.parametrize("key", ["before", "since"])
@pytest.mark.parametrize(
    ("value", "shown"),
    [("12", "a string"), (1.5, "1.5"), (3.0, "3.0"), (True, "a boolean"), (None, "null"), ([1], "an array")],
)
def test_a_before_or_since_that_is_not_an_integer_is_an_unknown_message(key, value, shown):
    with pytest.raises(ProtocolError) as error:
        protocol.parse_command({"uuid": "1", "action": "select_room", "room": "r", key: value}, True)
    assert str(error.value) == (
        f"Unknown message: '{key}' must be the integer id of a message of this room, not {shown}"
    )
    assert (error.value.uuid, error.value.action, error.value.fatal) == ("1", "select_room", False)


def test_select_room_without_room_names_only_the_required_key():
    with pytest.raises(ProtocolError, match=r"^The action 'select_room' needs the keys 'room'; missing: 'room'$"):
        protocol.parse_command({"uuid": "1", "action": "select_room", "since": 4}, authenticated=True)


def test_a_select_room_reply_carries_its_messages_and_has_more():
    assert protocol.room_messages("1", "r", [{"id": 4}], has_more=True) == {
        "uuid": "1",
        "action": "select_room",
        "status": "success",
        "room": "r",
        "room_messages": [{"id": 4}],
        "has_more": True,
    }


def test_a_select_room_reply_lists_who_is_online_when_the_layer_knows():
    reply = protocol.room_messages("1", "r", [], has_more=False, online=["alice", "bob"])
    assert reply["online"] == ["alice", "bob"]
    assert "online" not in protocol.room_messages("1", "r", [], has_more=False, online=None)


@pytest.mark.parametrize("online", [True, False])
def test_a_presence_push_has_exactly_the_documented_shape(online):
    assert protocol.presence("r", "alice", online) == {
        "uuid": None,
        "action": "presence",
        "status": "success",
        "room": "r",
        "user": {"username": "alice"},
        "online": online,
    }


def test_only_authenticate_parses_before_authentication():
    assert protocol.parse_command({"uuid": "1", "action": "authenticate", "token": "k"}, authenticated=False)
    with pytest.raises(ProtocolError) as error:
        protocol.parse_command({"uuid": "2", "action": "select_room", "room": "r"}, authenticated=False)
    assert error.value.reply() == {
        "uuid": "2",
        "action": "select_room",
        "status": "error",
        "error_message": "Authentication required before sending any other messages",
    }


@pytest.mark.parametrize(
    ("content", "missing"),
    [({"action": "authenticate"}, "'uuid'"), ({"uuid": "1"}, "'action'"), ({}, "'uuid', 'action'")],
)
def test_a_frame_without_uuid_or_action_names_the_required_keys(content, missing):
    with pytest.raises(ProtocolError) as error:
        protocol.parse_command(content, authenticated=False)
    assert str(error.value) == f"Every message needs the keys 'uuid' and 'action'; missing: {missing}"
    assert not error.value.fatal


def test_an_unknown_action_lists_the_allowed_ones():
    with pytest.raises(ProtocolError) as error:
        protocol.parse_command({"uuid": "1", "action": "shout"}, authenticated=True)
    assert error.value.reply() == {
        "uuid": "1",
        "action": "shout",
        "status": "error",
        "error_message": "Unknown action 'shout'; allowed actions: 'authenticate', 'select_room', 'new_message'",
    }


def test_an_action_without_its_keys_names_them():
    with pytest.raises(ProtocolError, match=r"The action 'new_message' needs the keys 'room', 'text'; missing: 'text'"):
        protocol.parse_command({"uuid": "1", "action": "new_message", "room": "r"}, authenticated=True)


@pytest.mark.parametrize("uuid", [7, None, ["a"], "x" * 101])
def test_uuid_must_be_a_short_string(uuid):
    with pytest.raises(ProtocolError, match="'uuid' must be a string of at most 100 characters"):
        protocol.parse_command({"uuid": uuid, "action": "authenticate", "token": "k"}, authenticated=False)


@pytest.mark.parametrize(
    ("text", "binary", "problem"),
    [
        (None, b"\x00\x01", "Binary frames are not supported"),
        ("not json", None, "The frame is not valid JSON"),
        ("", None, "The frame is not valid JSON"),
        ("[1, 2]", None, "The frame must be a JSON object, not an array"),
        ('"hello"', None, "The frame must be a JSON object, not a string"),
        ("42", None, "The frame must be a JSON object, not a number"),
        ("null", None, "The frame must be a JSON object, not null"),
    ],
)
def test_a_frame_that_is_not_a_json_object_is_a_fatal_error_without_uuid(text, binary, problem):
    with pytest.raises(ProtocolError) as error:
        protocol.decode_frame(text, binary)
    assert error.value.fatal
    reply = error.value.reply()
    assert reply["uuid"] is None and reply["status"] == "error"
    assert reply["error_message"].startswith(problem)


def test_a_json_object_frame_decodes_to_its_content():
    assert protocol.decode_frame('{"uuid": "1", "action": "x"}') == {"uuid": "1", "action": "x"}
