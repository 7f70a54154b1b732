"""One process's place in one group's history, and the merge of a replay with live traffic. Pure logic, no I/O.

While the subscription is lost and until the replay of what was missed is done, live messages are
held back; then the replayed messages go first, in stream order, and live ones follow. A live
message is dropped as a duplicate only if it has the exact position of a replayed one, never
because its id looks older: after a partial loss (a promoted replica without the tail, an AOF
that lost its last second) new messages may well get ids below ones already seen.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from .positions import Position
from .streams import StreamRead

__all__ = ["Cursor"]

Item = TypeVar("Item")


class Cursor(Generic[Item]):
    """The last position delivered in one group, and the live items waiting for a replay."""

    __slots__ = ("position", "replay_owed", "_reading", "_lost_while_reading", "_held", "_replayed")

    def __init__(self, position: Position | None) -> None:
        #: The newest position delivered here, or the group's newest when this process subscribed
        #: (None: the group had no history then, so all of it is owed after a loss).
        self.position = position
        #: The subscription was lost: live items are held until ``replayed`` is called.
        self.replay_owed = False
        self._reading = False
        self._lost_while_reading = False
        self._held: list[tuple[Position, Item]] = []
        self._replayed: set[Position] = set()

    def lose(self) -> None:
        """The subscription is gone: whatever arrives next waits for the replay."""
        self.replay_owed = True
        self._lost_while_reading = self._reading

    def reading(self) -> Position | None:
        """A replay's read begins; returns the position to read after."""
        self._reading, self._lost_while_reading = True, False
        return self.position

    def live(self, position: Position, item: Item) -> bool:
        """Whether a live item is to be delivered now (else it is held, or a duplicate of a replayed one)."""
        if self.replay_owed:
            self._held.append((position, item))
            return False
        return self._admit(position)

    def replayed(self, read: StreamRead | None, replay: list[tuple[Position, Item]]) -> list[tuple[Position, Item]]:
        """Everything to deliver now, in order: ``replay`` (if ``read`` covered the gap), then the held items.

        ``read`` is None when the history could not be read; the caller signals the gap then, as when
        ``read.covered`` is false.
        """
        covered = read is not None and read.covered
        deliver = list(replay) if covered else []
        self._replayed = {position for position, _ in deliver}
        if deliver:
            self.position = deliver[-1][0]
        elif read is not None and not covered:
            self.position = read.position  # what was lost is signalled; pick up from the stream's present
        held, self._held = self._held, []
        deliver.extend((position, item) for position, item in held if self._admit(position))
        # Lost again while reading: what follows waits for the next replay, which reads after what went out now.
        self.replay_owed, self._reading = self._lost_while_reading, False
        return deliver

    def _admit(self, position: Position) -> bool:
        if self._replayed:
            if position in self._replayed:
                return False
            # Live traffic arrives in stream order: past the replayed ones, nothing can repeat them.
            self._replayed = set()
        self.position = position
        return True
