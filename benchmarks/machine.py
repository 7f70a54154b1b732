"""What the numbers were measured on: CPU, OS, Python, package and Redis versions, the git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.redis_server import RedisServer

__all__ = ["describe"]

PACKAGES = ("channels-fanout", "channels", "channels_redis", "redis", "hiredis", "msgpack", "Django", "daphne")
ROOT = Path(__file__).resolve().parent.parent


def describe(server: RedisServer) -> dict[str, Any]:
    with server.client() as client:
        redis_version = client.info("server")["redis_version"]
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "packages": {name: _version(name) for name in PACKAGES},
        "commit": _commit(),
    }


def _commit() -> str:
    """The short commit, marked dirty when the layer's code differs from it (the measured code)."""
    dirty = _git("status", "--porcelain", "--", "channels_fanout")
    return _git("rev-parse", "--short", "HEAD") + (" (dirty)" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
