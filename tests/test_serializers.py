import pytest

from channels_fanout import envelope
from channels_fanout.serializers import Serializer


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_round_trip(fmt):
    serializer = Serializer(fmt)
    message = {"type": "chat.message", "text": "héllo", "n": [1, 2], "nested": {"a": None}}
    assert serializer.loads(serializer.dumps(message)) == message


@pytest.mark.parametrize("fmt", ["msgpack", "json"])
def test_unencodable_value_raises_type_error_naming_the_format(fmt):
    with pytest.raises(TypeError, match=fmt):
        Serializer(fmt).dumps({"type": "x", "value": {1, 2}})


def test_encrypted_round_trip_and_key_rotation():
    old = Serializer("msgpack", ["old-key"])
    rotated = Serializer("msgpack", ["new-key", "old-key"])
    data = old.dumps({"type": "x"})
    assert b"type" not in data
    assert rotated.loads(data) == {"type": "x"}


def test_unknown_key_is_undecodable():
    data = Serializer("msgpack", ["one"]).dumps({"type": "x"})
    with pytest.raises(ValueError, match="Undecodable"):
        Serializer("msgpack", ["other"]).loads(data)


@pytest.mark.parametrize("garbage", [b"", b"\xc1", b"not msgpack at all", b"\x93\x01\x02\x03"])
def test_garbage_is_not_a_frame(garbage):
    with pytest.raises(ValueError):
        envelope.unpack(garbage)


def test_frame_round_trip():
    frame = envelope.pack(envelope.MESSAGE, "a!b", 12.5, b"body")
    assert envelope.unpack(frame) == [envelope.MESSAGE, "a!b", 12.5, b"body"]
