"""``manage.py fanout_status``: every live process of the deployment, from the stats reports in Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_fanout.exceptions import ChannelLayerUnavailable
from channels_fanout.operations.aliases import private_layer

COLUMNS = ("HOST", "PID", "UPTIME", "AGE", "CHANNELS", "GROUPS", "MEMBERS", "TRACKED", "BACKLOG", "DROPPED",
           "RECONNECTS", "REPLAYED", "UNRECOVERED", "TOP INBOXES")
TOP_SHOWN = 3
CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Command(BaseCommand):  # type: ignore[misc]
    # A probe runs often and must be quick; an invalid CONFIG fails the command with its own message.
    requires_system_checks: list[str] = []
    help = (
        "List every live process using the channel layer (host, pid, uptime, channels, groups, tracked channels, "
        "drops, reconnects, most backed-up inboxes), from the reports each writes to Redis every stats_interval "
        "seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--layer", default="default", help="The CHANNEL_LAYERS alias (default: 'default').")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the reports as a JSON list (one line a refresh)."
        )
        parser.add_argument(
            "--watch", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
            help="Refresh every SECONDS (default 2) until interrupted.",
        )

    def handle(self, *args: Any, layer: str, as_json: bool, watch: float | None, **options: Any) -> None:
        if watch is not None and watch <= 0:
            raise CommandError(f"--watch takes a positive number of seconds, not {watch}")
        try:
            asyncio.run(self._show(layer, as_json, watch))
        except KeyboardInterrupt:
            pass  # how --watch ends

    async def _show(self, alias: str, as_json: bool, watch: float | None) -> None:
        try:
            layer = private_layer(alias)
        except (LookupError, TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        try:
            while True:
                try:
                    reports = await layer.cluster_stats()
                except ChannelLayerUnavailable as exc:
                    raise CommandError(f"Cannot read the stats reports: {exc}") from exc
                if watch is not None and not as_json and self.stdout.isatty():
                    self.stdout.write(CLEAR_SCREEN, ending="")
                self.stdout.write(render_json(reports) if as_json else render_table(reports, layer.config.prefix))
                if watch is None:
                    return
                self.stdout.flush()
                await asyncio.sleep(watch)
        finally:
            await layer.close()


def render_json(reports: list[dict[str, Any]]) -> str:
    """One line per refresh (JSON lines under --watch), keys in the order of stats()."""
    return json.dumps(reports, separators=(",", ":"))


def render_table(reports: Sequence[dict[str, Any]], prefix: str) -> str:
    """An aligned text table, one row per process, and a summary line."""
    if not reports:
        return (
            f"No live process reports under prefix {prefix!r}: nothing is using the layer, or stats_interval is 0.\n"
            f"({time.strftime('%H:%M:%S')})"
        )
    rows = [COLUMNS, *(_row(report) for report in reports)]
    widths = [max(len(row[index]) for row in rows) for index in range(len(COLUMNS) - 1)]
    lines = ["  ".join([*map(str.ljust, row[:-1], widths), row[-1]]).rstrip() for row in rows]
    channels = sum(int(report.get("channels", 0)) for report in reports)
    lines.append(
        f"{len(reports)} live process{'es' if len(reports) != 1 else ''}, {channels} channels, "
        f"prefix {prefix!r} ({time.strftime('%H:%M:%S')})"
    )
    return "\n".join(lines)


def _row(report: dict[str, Any]) -> tuple[str, ...]:
    dropped = sum(report.get("messages", {}).get("dropped", {}).values())
    top = ", ".join(f"{inbox['channel']}={inbox['depth']}" for inbox in report.get("top_inboxes", [])[:TOP_SHOWN])
    return (
        str(report.get("host", "?")),
        str(report.get("pid", "?")),
        duration(float(report.get("uptime", 0))),
        f"{float(report.get('age', 0)):.1f}s",
        *(str(report.get(key, 0)) for key in ("channels", "groups", "members", "tracked", "backlog")),
        str(dropped),
        str(report.get("reconnects", 0)),
        *(str(report.get("history", {}).get(key, 0)) for key in ("replayed", "unrecovered")),
        top or "-",
    )


def duration(seconds: float) -> str:
    """Seconds as the two largest units: 42s, 3m05s, 2h07m, 4d03h."""
    seconds = int(seconds)
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if seconds >= size:
            return f"{seconds // size}{unit}{(seconds % size) // smaller_size:02d}{smaller}"
    return f"{seconds}s"
