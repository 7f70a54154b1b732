#!/usr/bin/env bash
# The supported range at both ends (noxfile.py): with no arguments the lowest and the newest versions, each in a
# fresh virtualenv under .nox/; `scripts/nox.sh -s lowest` runs one end. Arguments go to nox, and after `--` to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

apt_install redis-server:redis-server
make_venv nox
cd "$ROOT"
exec "$VENV/bin/nox" "$@"
