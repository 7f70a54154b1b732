"""What a lost subscription cost, told to the local channels it reached.

After the hub has resubscribed, groups with history are replayed first; the channels of every other
lost group, of groups whose history could not cover the outage, and (when the process inbox topic
was lost) every channel, get a ``gap_message_type`` message each and the layer's gap signal, which
name the groups that may have lost messages. All of it before anything later reaches them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config import LayerConfig
from .fanout import Fanout
from .recovery import Recovery

__all__ = ["GapCallback", "Gaps"]

#: Channel -> the groups whose messages it may have lost (none if only direct sends may be lost), outage seconds.
GapCallback = Callable[[dict[str, list[str]], float], None]


class Gaps:
    """Replays, then reports, what one node's lost subscriptions cost."""

    def __init__(self, config: LayerConfig, fanout: Fanout, inbox_topic: bytes, signal: GapCallback) -> None:
        self._config = config
        self._fanout = fanout
        self._inbox_topic = inbox_topic
        self._signal = signal

    async def recover(self, topics: set[bytes], outage: float, recovery: Recovery) -> None:
        """Replay what groups with history missed; report the others, and those history could not cover."""
        groups = {group for topic in topics if (group := self._fanout.group_of(topic)) is not None}
        replayed = {group for group in groups if recovery.covers(group)}

        def report_uncovered(uncovered: set[str]) -> None:
            self.report((groups - replayed) | uncovered, outage, everyone=self._inbox_topic in topics)

        await recovery.replay(replayed, report_uncovered)

    def history_lost(self, groups: set[str]) -> None:
        """Redis lost history while this process stayed subscribed (a failover that dropped its tail)."""
        self.report(groups, 0.0, everyone=False)

    def report(self, groups: set[str], outage: float, *, everyone: bool) -> None:
        """The gap message to each channel in ``groups`` (or every channel), then the layer's signal."""
        lost = self._fanout.groups_lost(groups, everyone=everyone)
        report = {channel: sorted(channel_groups) for channel, channel_groups in lost.items()}
        if not report:
            return
        gap_type = self._config.gap_message_type
        if gap_type is not None:
            expires_at = time.time() + self._config.expiry
            for channel, channel_groups in report.items():
                message = {"type": gap_type, "outage": outage, "groups": channel_groups}
                self._fanout.inboxes[channel].put_or_drop(message, expires_at)
        self._signal(report, outage)
