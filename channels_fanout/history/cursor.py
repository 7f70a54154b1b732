"""One process's place in one group's history, and the merge of a replay with live traffic. Pure logic, no I/O.

While the subscription is lost and until the replay of what was missed is done, live messages are
held back; then the replayed messages go first, in stream order, and live ones follow. A live
message is dropped as a duplicate only if it has the exact position of a replayed one, never
because its id looks older: after a partial loss (a promoted replica without the tail, an AOF
that lost its last second) new messages may well get ids below ones already seen.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from .positions import Position
from .streams import StreamRead

__all__ = ["Cursor"]

Item = TypeVar("Item")


class Cursor(Generic[Item]):
    """The last position delivered in one group, and the live items waiting for a replay."""

    __slots__ = (
        "position", "moved_at", "replay_owed",
        "_clock", "_lost_at", "_back_at", "_read_at", "_held", "_fence", "_replayed",
    )  # fmt: skip

    def __init__(self, position: Position | None) -> None:
        #: The newest position delivered here, or the group's newest when this process subscribed
        #: (None: the group had no history then, so all of it is owed after a loss).
        self.position = position
        #: When ``position`` last moved (``time.monotonic()``).
        self.moved_at = time.monotonic()
        #: The subscription was lost: live items are held until ``replayed`` is called.
        self.replay_owed = False
        # When, in this cursor's own order of events, the subscription was last lost, last confirmed again,
        # and the last replay's read began: live items may flow once a read began after the subscription
        # came back after the last loss.
        self._clock = self._lost_at = self._back_at = self._read_at = 0
        self._held: list[tuple[Position, Item]] = []
        # How many of the held items came before the first loss since the last read: the ones after it wait
        # for the replay of that loss, even while an earlier replay is still handing items out.
        self._fence: int | None = None
        self._replayed: set[Position] = set()

    def lose(self) -> None:
        """The subscription is gone: whatever arrives next waits for the replay."""
        self.replay_owed = True
        self._lost_at = self._tick()
        if self._fence is None:
            self._fence = len(self._held)

    def resubscribed(self) -> None:
        """Redis confirmed the subscription again: a read from now on sees everything live traffic will not."""
        self._back_at = self._tick()

    @property
    def replayable(self) -> bool:
        """Whether a replay is owed and the subscription is back since the last loss, so a read now sees the rest."""
        return self.replay_owed and self._lost_at < self._back_at

    def reading(self) -> Position | None:
        """A replay's read begins (the subscription is back: ``replayable``); returns the position to read after."""
        self._read_at = self._tick()
        self._fence = None  # this read covers what was lost: everything held may follow it
        return self.position

    def live(self, position: Position, item: Item) -> bool:
        """Whether a live item is to be delivered now (else it is held, or a duplicate of a replayed one)."""
        if self.replay_owed:
            self._held.append((position, item))
            return False
        return self._admit(position)

    def replayed(self, read: StreamRead | None, replay: list[tuple[Position, Item]]) -> list[tuple[Position, Item]]:
        """What to deliver first, in order: ``replay`` (if ``read`` covered the gap), then the items held so far.

        ``read`` is None when the history could not be read; the caller signals the gap then, as when
        ``read.covered`` is false. Live items stay held until ``drain`` returns nothing, so the caller
        may let receivers run between deliveries without anything overtaking.
        """
        covered = read is not None and read.covered
        deliver = list(replay) if covered else []
        self._replayed = {position for position, _ in deliver}
        if deliver:
            self._move(deliver[-1][0])
        elif read is not None and not covered:
            self._move(read.position)  # what was lost is signalled; pick up from the stream's present
        return deliver + self._take_held()

    def drain(self) -> list[tuple[Position, Item]]:
        """After delivering what ``replayed`` returned: the items held since, to deliver next.

        When there are none, live items flow again (unless the subscription was lost again meanwhile:
        then they wait for the next replay, which reads after what went out).
        """
        deliver = self._take_held()
        if not deliver:
            self.replay_owed = not self._lost_at < self._back_at < self._read_at
        return deliver

    def _take_held(self) -> list[tuple[Position, Item]]:
        if self._fence is None:
            held, self._held = self._held, []
        else:
            held, self._held, self._fence = self._held[: self._fence], self._held[self._fence :], 0
        return [(position, item) for position, item in held if self._admit(position)]

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _admit(self, position: Position) -> bool:
        if self._replayed:
            if position in self._replayed:
                return False
            # Live traffic arrives in stream order: past the replayed ones, nothing can repeat them.
            self._replayed = set()
        self._move(position)
        return True

    def _move(self, position: Position | None) -> None:
        self.position, self.moved_at = position, time.monotonic()
