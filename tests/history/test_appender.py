"""How the appender cuts a turn's sends to one group into scripts (pure logic; the sends themselves are in
tests/local/test_recovery.py)."""

from __future__ import annotations

from channels_fanout.history.appender import MAX_BYTES, MAX_MESSAGES, _chunks


def _waiting(*sizes: int) -> list:
    return [(b"x" * size, n) for n, size in enumerate(sizes)]


def test_a_turns_sends_go_in_one_script_up_to_the_message_limit_in_order():
    chunks = _chunks(_waiting(*[10] * (2 * MAX_MESSAGES + 1)))
    assert [len(chunk) for chunk in chunks] == [MAX_MESSAGES, MAX_MESSAGES, 1]
    assert [n for chunk in chunks for _, n in chunk] == list(range(2 * MAX_MESSAGES + 1))


def test_a_script_holds_about_max_bytes_and_a_larger_message_goes_alone():
    half = MAX_BYTES // 2
    chunks = _chunks(_waiting(half, half, 1, MAX_BYTES * 2, 5))
    assert [[n for _, n in chunk] for chunk in chunks] == [[0, 1], [2], [3], [4]]
