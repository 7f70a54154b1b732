"""Positions in a group's history: the stream's epoch and an entry id, written ``"<epoch>:<ms>-<seq>"``.

Stream entry ids come from Redis's clock, so a stream that Redis lost and created again gets ids
larger than the old ones: the id alone cannot tell that history was lost. The epoch, a random name
given to a stream when it is created, can: a position from another epoch is never covered.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Position", "next_id"]

_ID = re.compile(r"(\d+)-(\d+)")
_EPOCH = re.compile(r"[0-9a-f]{1,32}")


class Position(NamedTuple):
    """Where a message is in a group's history; ``str(position)`` is what clients keep and hand back.

    A tuple: one is made for every message of a group with history that a process receives.
    """

    epoch: str
    id: str

    def __str__(self) -> str:
        return f"{self.epoch}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The position written by ``str()``; ValueError naming the expected shape otherwise."""
        if isinstance(text, str):
            epoch, _, entry_id = text.partition(":")
            if _EPOCH.fullmatch(epoch) and _ID.fullmatch(entry_id):
                return cls(epoch, entry_id)
        raise ValueError(
            f"{text!r} is not a history position: positions look like 'epoch:ms-seq', as delivered "
            "in messages' 'history_position'"
        )


def next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id`` (XRANGE's exclusive start, which Redis 5 lacks)."""
    match = _ID.fullmatch(entry_id)
    if match is None:
        raise ValueError(f"{entry_id!r} is not a stream entry id")
    return f"{match.group(1)}-{int(match.group(2)) + 1}"
