import asyncio
import time

import pytest

from channels_fanout.local.inbox import Inbox

FAR = time.time() + 3600


async def test_put_refuses_beyond_capacity_and_counts_drops():
    inbox = Inbox("c", capacity=2)
    assert inbox.put({"n": 1}, FAR) and inbox.put({"n": 2}, FAR)
    assert not inbox.put({"n": 3}, FAR)
    inbox.put_or_drop({"n": 4}, FAR)
    assert inbox.dropped == 1
    assert [await inbox.get(), await inbox.get()] == [{"n": 1}, {"n": 2}]


async def test_get_skips_expired_messages():
    inbox = Inbox("c", capacity=5)
    inbox.put({"n": "old"}, time.time() - 1)
    inbox.put({"n": "new"}, FAR)
    assert await inbox.get() == {"n": "new"}


async def test_cancelled_get_after_wake_up_leaves_the_message_for_the_next_receiver():
    inbox = Inbox("c", capacity=5)
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put({"n": 1}, FAR)  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == {"n": 1}
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_waiting_receiver_is_handed_the_message_without_it_being_queued():
    inbox = Inbox("c", capacity=5)
    task = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert inbox.put_or_drop({"n": 1}, FAR) is False
    assert len(inbox) == 0 and inbox.delivered == 1 and inbox.high_water == 1
    assert await asyncio.wait_for(task, 1) == {"n": 1}


async def test_a_receiver_cancelled_with_a_handed_message_puts_it_back_first_in_order():
    inbox = Inbox("c", capacity=5)
    receiver = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put({"n": 1}, FAR)  # handed to `receiver`...
    inbox.put({"n": 2}, FAR)  # ...queued behind it
    receiver.cancel()  # as Channels does when the consumer exits, before the receiver ran
    with pytest.raises(asyncio.CancelledError):
        await receiver
    assert len(inbox) == 2 and inbox.receivers == 0
    assert [await inbox.get(), await inbox.get()] == [{"n": 1}, {"n": 2}]


async def test_a_handed_message_that_expired_before_its_receiver_ran_is_skipped():
    inbox = Inbox("c", capacity=5)
    task = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put({"n": "old"}, time.time() + 0.01)
    time.sleep(0.02)  # the loop does not run: the receiver finds it expired when it does
    inbox.put({"n": "new"}, FAR)
    assert await asyncio.wait_for(task, 1) == {"n": "new"}
    assert inbox.expired == 1


async def test_receivers_and_idle_since_track_pending_gets():
    inbox = Inbox("c", capacity=5)
    task = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert inbox.receivers == 1 and inbox.waiting
    before = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inbox.receivers == 0 and not inbox.waiting
    assert inbox.idle_since >= before


async def test_drop_log_is_rate_limited_with_totals(caplog):
    inbox = Inbox("chan", capacity=1)
    inbox.put({}, FAR)
    for _ in range(50):
        inbox.put_or_drop({}, FAR)
    records = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(records) == 1
    assert inbox.dropped == 50


async def test_take_returns_a_queued_message_without_waiting_and_none_when_empty():
    inbox = Inbox("c", capacity=5)
    assert inbox.take() is None
    inbox.put({"n": "old"}, time.time() - 1)
    inbox.put({"n": 1}, FAR)
    inbox.idle_since = 0.0
    assert inbox.take() == {"n": 1}
    assert inbox.expired == 1 and len(inbox) == 0
    assert inbox.idle_since > 0.0  # a receiver was here: the sweeper keeps the inbox
    assert inbox.take() is None


async def test_put_or_drop_reports_a_half_full_inbox_and_tracks_the_high_water_mark():
    inbox = Inbox("c", capacity=4)
    assert [inbox.put_or_drop({"n": n}, FAR) for n in range(5)] == [False, True, True, True, True]
    assert inbox.full and inbox.high_water == 4 and inbox.dropped == 1
    inbox.take()
    assert not inbox.full
