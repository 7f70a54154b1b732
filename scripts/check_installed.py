"""Run by scripts/check_package.sh with the Python of a virtualenv that has only the built package installed.

Checks that the installed package has every module of the checkout (a sub-package that the build left out fails
here), that each imports, and that a FanoutChannelLayer sends a message to itself through a private redis-server.
Usage: check_installed.py CHECKOUT
"""

from __future__ import annotations

import asyncio
import pkgutil
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from importlib import import_module
from pathlib import Path


def checkout_modules(checkout: Path) -> set[str]:
    package = checkout / "channels_fanout"
    names = {".".join(path.relative_to(checkout).with_suffix("").parts) for path in package.rglob("*.py")}
    return {name.removesuffix(".__init__") for name in names}


def installed_modules() -> set[str]:
    package = import_module("channels_fanout")
    if Path(sys.prefix) not in Path(package.__file__ or "").parents:
        raise SystemExit(f"channels_fanout was imported from {package.__file__}, not from the virtualenv {sys.prefix}")
    found = {info.name for info in pkgutil.walk_packages(package.__path__, "channels_fanout.")}
    return {"channels_fanout", *found}


def configure_django() -> None:
    import django
    from django.conf import settings

    settings.configure(INSTALLED_APPS=["channels_fanout"])
    django.setup()


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"redis://127.0.0.1:{port}/0"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise SystemExit(f"redis-server did not start on port {port}") from None
            time.sleep(0.05)


async def round_trip(url: str) -> None:
    from channels_fanout import FanoutChannelLayer

    layer = FanoutChannelLayer(hosts=[url])
    try:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "package.check"})
        message = await asyncio.wait_for(layer.receive(channel), 2)
    finally:
        await asyncio.wait_for(layer.close(), 5)
    if message != {"type": "package.check"}:
        raise SystemExit(f"the layer delivered {message!r}")


def main(checkout: Path) -> None:
    configure_django()
    missing = checkout_modules(checkout) - installed_modules()
    if missing:
        raise SystemExit(f"the installed package lacks {sorted(missing)}: is each folder a package (__init__.py)?")
    for name in sorted(installed_modules()):
        import_module(name)
    with tempfile.TemporaryDirectory() as workdir:
        server, url = start_redis(workdir)
        try:
            asyncio.run(round_trip(url))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{len(installed_modules())} modules import from {sys.prefix}; a layer sent a message through Redis.")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
