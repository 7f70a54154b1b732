#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

apt_install redis-server:redis-server chromium:chromium chromedriver:chromium-driver
make_venv tests
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "$@"
