"""The grammar of channel names, Redis topics and keys, in one place.

Channel names follow the Channels spec: ``specific.<client id>!<token>`` for process-specific
channels (made by ``new_channel``), anything else is a normal channel. The client id names one
event loop of one process, so the sender of a direct message can compute the one pub/sub topic
(the process inbox) that reaches it.

Everything that belongs to one group (its topic, history stream and presence keys) carries the
group name as a Redis Cluster hash tag, ``{group}``: one slot holds it all, so a script can add
to a group's history and publish on its topic in one atomic step, on a cluster too. Several plain
hosts pick a group's host by its topic, for its keys as well (``Names.group_topic``).
"""

from __future__ import annotations

import secrets

__all__ = ["Names", "client_id_of", "is_specific"]


def is_specific(channel: str) -> bool:
    """Whether ``channel`` is process-specific (has a ``!``), so pub/sub can reach its owner."""
    return "!" in channel


def client_id_of(channel: str) -> str:
    """The client id of a process-specific channel: the last dotted part before the ``!``."""
    return channel[: channel.index("!")].rpartition(".")[2]


class Names:
    """Topics and keys of one layer, all under its ``prefix`` so ``flush`` finds them with one SCAN."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.control_topic = f"{prefix}:control".encode()
        self._group_topic_head = f"{prefix}:group:"

    @staticmethod
    def new_client_id() -> str:
        return secrets.token_hex(8)

    @staticmethod
    def new_channel(prefix: str, client_id: str) -> str:
        return f"{prefix}.{client_id}!{secrets.token_hex(6)}"

    def inbox_topic(self, client_id: str) -> bytes:
        return f"{self.prefix}:inbox:{client_id}".encode()

    def group_topic(self, group: str) -> bytes:
        return f"{self._group_topic_head}{{{group}}}".encode()

    def group_key(self, kind: str, group: str) -> str:
        """A key of ``group``'s (``kind``: "history", "presence", ...), in the slot of the group's topic."""
        return f"{self.prefix}:{kind}:{{{group}}}"

    def queue_key(self, channel: str) -> str:
        return f"{self.prefix}:queue:{channel}"

    def stats_key(self, reporter_id: str) -> str:
        """Where one process's stats report lives (see ``monitoring.reports``)."""
        return f"{self.prefix}:stats:{reporter_id}"

    def stats_pattern(self) -> str:
        return f"{self.prefix}:stats:*"

    def key_pattern(self) -> str:
        """SCAN pattern matching every key this layer writes."""
        return f"{self.prefix}:*"
