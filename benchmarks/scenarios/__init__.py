"""Every scenario by name, in the order the suite runs them."""

from __future__ import annotations

from .base import Metric, Outcome, Scenario
from .churn import CHURN
from .dispatch import DISPATCH
from .fanout import FANOUT_ONE_GROUP, FANOUT_RATE, FANOUT_SATURATED, FANOUT_SERIAL
from .history import HISTORY_COST
from .memory import MEMORY
from .p2p import P2P
from .presence import PRESENCE
from .publish import PUBLISH
from .recovery import RECOVERY
from .websocket import WEBSOCKETS

__all__ = ["SCENARIOS", "Metric", "Outcome", "Scenario"]

_IN_ORDER = (
    FANOUT_SATURATED, FANOUT_ONE_GROUP, FANOUT_SERIAL, FANOUT_RATE, PUBLISH, P2P, CHURN, MEMORY, *DISPATCH, *WEBSOCKETS,
    HISTORY_COST, RECOVERY, PRESENCE,
)  # fmt: skip
SCENARIOS: dict[str, Scenario] = {scenario.name: scenario for scenario in _IN_ORDER}
