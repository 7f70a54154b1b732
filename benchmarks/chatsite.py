"""The chat testproject for the WebSocket benchmark: the tests' daphne servers, with the layer under test."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["chat_environment"]


def chat_environment(workdir: Path, redis_url: str, layer_path: str) -> dict[str, str]:
    """Environment of the project's processes: its database file, the run's Redis, the layer under test."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.chat_settings",
        "DJANGO_DEBUG": "0",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "BENCHMARK_CHANNEL_LAYER": layer_path,
    }
