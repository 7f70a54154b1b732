"""``manage.py fanout_ping``: a message through each Redis host and back; exits 1 if any trip fails (health checks)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_fanout.operations.aliases import fanout_entry
from channels_fanout.operations.ping import Pong, ping


class Command(BaseCommand):  # type: ignore[misc]
    # A probe runs often and must be quick; an invalid CONFIG fails the command with its own message.
    requires_system_checks: list[str] = []
    help = (
        "Send a message through each Redis host of the channel layer and back (SUBSCRIBE, PUBLISH, receive), "
        "print the round trip, and exit 1 if any host fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--layer", default="default", help="The CHANNEL_LAYERS alias (default: 'default').")
        parser.add_argument(
            "--timeout", type=float, default=5.0, metavar="SECONDS", help="Give up on a host after SECONDS (default 5)."
        )

    def handle(self, *args: Any, layer: str, timeout: float, **options: Any) -> None:
        if timeout <= 0:
            raise CommandError(f"--timeout takes a positive number of seconds, not {timeout}")
        pongs = asyncio.run(self._ping(layer, timeout))
        for pong in pongs:
            if pong.seconds is not None:
                self.stdout.write(f"PONG from {pong.shard} in {pong.seconds * 1000:.2f} ms")
            else:
                self.stderr.write(f"FAIL {pong.shard}: {pong.error}")
        failed = [pong.shard for pong in pongs if pong.seconds is None]
        if failed:
            raise CommandError(f"No round trip through {', '.join(failed)} (CHANNEL_LAYERS[{layer!r}])")

    async def _ping(self, alias: str, timeout: float) -> list[Pong]:
        try:
            backend, config = fanout_entry(alias)
            return await ping(config, timeout, backend)
        except (LookupError, TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
