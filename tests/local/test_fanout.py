import time

from channels_fanout import envelope
from channels_fanout.local.fanout import Fanout
from channels_fanout.naming import Names
from channels_fanout.serializers import Serializer

NAMES = Names("asgi")
SERIALIZER = Serializer()


def make_fanout(capacity: int = 10) -> Fanout:
    return Fanout(NAMES, SERIALIZER, lambda channel: capacity, owner="a")


def group_frame(message: dict) -> bytes:
    return envelope.pack(envelope.GROUP, time.time() + 60, SERIALIZER.dumps(message))


def test_group_frame_reaches_every_member_with_a_dict_of_its_own():
    fanout = make_fanout()
    for channel in ("a!1", "a!2", "a!3"):
        fanout.open_inbox(channel)
        fanout.join("g", channel)
    fanout.deliver(NAMES.group_topic("g"), group_frame({"type": "t"}))
    messages = [fanout.inboxes[c]._items[0][1] for c in ("a!1", "a!2", "a!3")]
    assert messages == [{"type": "t"}] * 3
    assert len({id(m) for m in messages}) == 3


def test_full_inbox_drops_for_itself_only():
    fanout = make_fanout(capacity=1)
    for channel in ("a!slow", "a!fast"):
        fanout.open_inbox(channel)
        fanout.join("g", channel)
    topic = NAMES.group_topic("g")
    fanout.deliver(topic, group_frame({"n": 1}))
    fanout.inboxes["a!fast"].drain()
    fanout.deliver(topic, group_frame({"n": 2}))
    assert fanout.inboxes["a!slow"].dropped == 1
    assert fanout.inboxes["a!fast"].dropped == 0
    assert len(fanout.inboxes["a!fast"]) == 1


def test_undecodable_payload_is_counted_and_skipped(caplog):
    fanout = make_fanout()
    fanout.open_inbox("a!1")
    fanout.join("g", "a!1")
    topic = NAMES.group_topic("g")
    for garbage in (
        b"junk",
        envelope.pack(envelope.GROUP, "not-a-time", b"x"),
        envelope.pack(envelope.GROUP, time.time() + 9, b"\xc1"),
    ):
        assert fanout.deliver(topic, garbage) is None
    assert fanout.undecodable == 3
    fanout.deliver(topic, group_frame({"ok": True}))
    assert len(fanout.inboxes["a!1"]) == 1


def test_expired_frame_is_not_delivered():
    fanout = make_fanout()
    fanout.open_inbox("a!1")
    frame = envelope.pack(envelope.MESSAGE, "a!1", time.time() - 1, SERIALIZER.dumps({}))
    fanout.deliver(NAMES.inbox_topic("a"), frame)
    assert len(fanout.inboxes["a!1"]) == 0


def test_control_frames_are_returned_to_the_caller():
    fanout = make_fanout()
    frame = envelope.pack(envelope.JOIN, "g", "a!1")
    assert fanout.deliver(NAMES.inbox_topic("a"), frame) == [envelope.JOIN, "g", "a!1"]


def test_membership_index_stays_consistent():
    fanout = make_fanout()
    fanout.open_inbox("a!1")
    assert fanout.join("g1", "a!1") and fanout.join("g2", "a!1")
    assert not fanout.join("g1", "a!1")
    _, groups = fanout.close_inbox("a!1")
    assert sorted(groups) == ["g1", "g2"]
    assert fanout.memberships() == []
    assert not fanout.leave("g1", "a!1")


def test_a_gap_reaches_the_members_of_lost_groups_or_with_the_inbox_every_channel():
    fanout = make_fanout()
    for channel in ("a!1", "a!2"):
        fanout.open_inbox(channel)
    fanout.join("g", "a!2")
    fanout.join("h", "a!2")
    assert fanout.groups_lost(["g"], everyone=False) == {"a!2": ["g"]}
    assert fanout.groups_lost(["g", "h"], everyone=True) == {"a!1": [], "a!2": ["g", "h"]}
    assert fanout.groups_lost([], everyone=False) == {}


def test_a_group_is_found_by_its_topic_while_it_has_members():
    fanout = make_fanout()
    fanout.open_inbox("a!1")
    fanout.join("g", "a!1")
    assert fanout.group_of(NAMES.group_topic("g")) == "g" and fanout.has_members("g")
    fanout.leave("g", "a!1")
    assert fanout.group_of(NAMES.group_topic("g")) is None and not fanout.has_members("g")


def test_direct_message_for_a_channel_of_another_process_is_foreign():
    fanout = make_fanout()
    frame = envelope.pack(envelope.MESSAGE, "specific.b!1", time.time() + 60, SERIALIZER.dumps({}))
    fanout.deliver(NAMES.inbox_topic("a"), frame)
    assert fanout.inboxes == {} and fanout.undecodable == 1
