"""Reference counts of the topics a shard is asked to hold subscribed."""

from __future__ import annotations

__all__ = ["References"]


class References(dict[bytes, int]):
    """topic -> references; the first one taken means subscribe, the last one dropped unsubscribe."""

    def take(self, topic: bytes) -> bool:
        """Count one more reference; True if it is the first."""
        references = self.get(topic, 0)
        self[topic] = references + 1
        return references == 0

    def drop(self, topic: bytes) -> bool:
        """Count one reference less; True if it was the last (dropping an unknown topic does nothing)."""
        references = self.get(topic, 0)
        if references > 1:
            self[topic] = references - 1
            return False
        if references == 1:
            del self[topic]
            return True
        return False
