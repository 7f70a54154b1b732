"""The merge of a replay with live traffic, as pure logic: what is delivered, in which order, and what is held."""

from channels_fanout.history.cursor import Cursor
from channels_fanout.history.positions import Position
from channels_fanout.history.streams import StreamRead


def at(n: int, epoch: str = "e1") -> Position:
    return Position(epoch, f"{n}-0")


def replay_of(*numbers: int, covered: bool = True, newest: int | None = None) -> tuple[StreamRead, list]:
    entries = [(at(n), f"m{n}") for n in numbers]
    newest_position = at(newest if newest is not None else (numbers[-1] if numbers else 0))
    return StreamRead(newest_position, covered, [(p, b"") for p, _ in entries]), entries


def lost_and_back(cursor: Cursor) -> None:
    cursor.lose()
    cursor.resubscribed()


def test_live_items_flow_and_move_the_position():
    cursor = Cursor(at(1))
    assert cursor.live(at(2), "m2") and cursor.position == at(2)


def test_after_a_loss_live_items_wait_and_follow_the_replay_without_duplicates():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    assert not cursor.live(at(4), "m4")  # published after the resubscription, arrives before the replay
    assert cursor.reading() == at(1)
    read, entries = replay_of(2, 3, 4)
    assert cursor.replayed(read, entries) == [(at(2), "m2"), (at(3), "m3"), (at(4), "m4")]  # held m4 was replayed
    assert not cursor.live(at(4), "m4")  # the same message arriving late, live: still a duplicate
    assert cursor.drain() == [] and not cursor.replay_owed
    assert cursor.live(at(5), "m5")


def test_items_held_while_the_replay_is_delivered_go_out_before_live_ones_flow_again():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    cursor.reading()
    read, entries = replay_of(2, 3)
    assert cursor.replayed(read, entries) == [(at(2), "m2"), (at(3), "m3")]
    assert not cursor.live(at(4), "m4")  # the caller is still delivering the replay
    assert cursor.drain() == [(at(4), "m4")]
    assert cursor.drain() == [] and cursor.live(at(5), "m5")


def test_an_older_looking_id_after_a_partial_loss_is_not_taken_for_a_duplicate():
    cursor = Cursor(at(100))
    lost_and_back(cursor)
    cursor.reading()
    read, entries = replay_of(101, 102)
    cursor.replayed(read, entries)
    cursor.drain()
    assert cursor.live(at(90), "new on a promoted replica with a slower clock")


def test_an_uncovered_gap_delivers_only_the_held_items_and_restarts_from_the_present():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    assert not cursor.live(at(9), "m9")
    cursor.reading()
    read = StreamRead(at(8, "e2"), covered=False, entries=[])
    assert cursor.replayed(read, []) == [(at(9), "m9")]
    assert cursor.position == at(9)
    assert cursor.drain() == [] and not cursor.replay_owed


def test_an_unreadable_history_keeps_the_position_and_releases_the_held_items():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    cursor.live(at(5), "m5")
    cursor.reading()
    assert cursor.replayed(None, []) == [(at(5), "m5")]


def test_a_loss_during_the_read_keeps_live_items_waiting_for_the_next_replay():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    cursor.reading()
    cursor.lose()  # the new connection died while the history was being read
    read, entries = replay_of(2)
    cursor.replayed(read, entries)
    assert cursor.drain() == [] and cursor.replay_owed
    assert not cursor.live(at(7), "m7")


def test_a_loss_before_the_read_began_but_after_the_resubscription_is_replayed_again():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    cursor.lose()  # lost again between the gap report and the read
    cursor.reading()
    read, entries = replay_of(2)
    cursor.replayed(read, entries)
    assert cursor.drain() == [] and cursor.replay_owed
    cursor.resubscribed()
    assert cursor.reading() == at(2)
    read, entries = replay_of(3)
    assert cursor.replayed(read, entries) == [(at(3), "m3")]
    assert cursor.drain() == [] and not cursor.replay_owed


def test_items_that_arrive_after_a_loss_during_a_replay_wait_for_that_loss_to_be_replayed():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    cursor.reading()
    read, entries = replay_of(2, 3)
    assert cursor.replayed(read, entries) == [(at(2), "m2"), (at(3), "m3")]
    assert not cursor.live(at(4), "m4")  # still on the connection the replay followed
    cursor.lose()  # lost while the replay was handing items out: 5 and 6 are published meanwhile
    cursor.resubscribed()
    assert not cursor.live(at(7), "m7")  # on the new connection
    assert cursor.drain() == [(at(4), "m4")]  # not m7: it must not jump over 5 and 6
    assert cursor.drain() == [] and cursor.replay_owed
    assert cursor.reading() == at(4)
    read, entries = replay_of(5, 6, 7)
    assert cursor.replayed(read, entries) == [(at(5), "m5"), (at(6), "m6"), (at(7), "m7")]  # held m7: a duplicate
    assert cursor.drain() == [] and not cursor.replay_owed


def test_items_from_a_connection_lost_again_stay_behind_the_first_loss_since_the_read():
    cursor = Cursor(at(1))
    lost_and_back(cursor)
    cursor.reading()  # reads up to 3
    assert not cursor.live(at(2), "m2")
    lost_and_back(cursor)  # 4 and 5 are published while down
    assert not cursor.live(at(6), "m6")  # on the connection that followed
    cursor.lose()
    read, entries = replay_of(2, 3)
    assert cursor.replayed(read, entries) == [(at(2), "m2"), (at(3), "m3")]  # held m2 is a duplicate
    assert cursor.drain() == [] and cursor.replay_owed  # m6 must not jump over 4 and 5
    cursor.resubscribed()
    assert cursor.reading() == at(3)
    read, entries = replay_of(4, 5, 6, 7)
    assert [position for position, _ in cursor.replayed(read, entries)] == [at(4), at(5), at(6), at(7)]
