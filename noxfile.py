"""The supported range, tested at both ends: ``nox -s lowest`` and ``nox -s newest`` (``scripts/nox.sh`` runs them).

Each session installs the package with its test dependencies into a fresh virtualenv, pinned to one end of the
range, and runs the layer's test suite (not the chat project's) against private redis-servers it starts itself.
Extra arguments go to pytest: ``nox -s lowest -- -k groups``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.download_python = "never"  # only the machine's own interpreters; the network has no Python builds
nox.options.sessions = ["lowest", "newest"]

LAYER_TESTS = ["tests", "--ignore=tests/testproject", "-ra"]
# The floors that setup.py and the README state; Django and redis-py at their newest patch of that release.
LOWEST = ["Django>=5.2,<5.3", "channels==4.3.0", "redis[hiredis]>=8.0,<8.1"]
NEWEST = ["Django", "channels", "redis[hiredis]"]
REPORTED = ["Django", "channels", "redis", "daphne", "msgpack"]


def interpreter(version: str) -> str:
    """pyenv's build of ``version`` when there is one (its shims answer only for the active versions), else PATH's."""
    pyenv_versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    builds = list(pyenv_versions.glob(f"{version}.*/bin/python{version}"))
    if not builds:
        return version
    return str(max(builds, key=lambda path: int(path.parts[-3].split(".")[2])))


def run_layer_tests(session: nox.Session, requirements: list[str]) -> None:
    if shutil.which("redis-server") is None:
        session.error("The tests start their own redis-server: install it (scripts/test.sh does, or apt-get).")
    session.install("--upgrade", "pip")
    session.install(".[tests]", *requirements)
    session.run(
        "python",
        "-c",
        "import platform, sys; from importlib.metadata import version; "
        "print(f'Python {platform.python_version()}', *(f'{name} {version(name)}' for name in sys.argv[1:]), sep=', ')",
        *REPORTED,
    )
    session.run("python", "-m", "pytest", *(session.posargs or LAYER_TESTS))


@nox.session(python=interpreter("3.11"))
def lowest(session: nox.Session) -> None:
    """Python 3.11, Django 5.2 LTS, Channels 4.3.0, redis-py 8.0."""
    run_layer_tests(session, LOWEST)


@nox.session(python=interpreter("3.13"))
def newest(session: nox.Session) -> None:
    """Python 3.13 and the newest release of Django, Channels and redis-py."""
    run_layer_tests(session, ["--upgrade", *NEWEST])
